"""The model to play with (the class notebook): sliders for the load and the web tier, and for
the setting they choose the model's run (`playground_model`), its figure (`playground_figure`)
and the textbook laws beside it.

    from loadtests.publishing import playground
    playground.explore()                       # the widgets, in Jupyter
    playground.figure(playground.Setting(workers=4, threads=4, visitors=12, queue="per worker"))
"""

from __future__ import annotations

from dataclasses import asdict

import matplotlib.pyplot as plt
from IPython.display import HTML, Markdown, display

from loadtests.publishing.playground_figure import figure, headline
from loadtests.publishing.playground_model import Setting, laws, run


def show(*, with_laws: bool = True, **choices: object) -> None:
    """Draw one setting: the probe's p50 and p95, the figure, then (`with_laws`) the laws."""
    setting = Setting(**choices)
    outcome = run(setting)
    fig = figure(setting, outcome)  # before anything is shown: the line and figure come together
    display(HTML(headline(outcome)))
    display(fig)
    plt.close(fig)
    if with_laws:
        display(Markdown(laws(outcome)))


def explore(
    setting: Setting | None = None,
    *,
    sliders: tuple[str, ...] | None = None,
    with_laws: bool = True,
):
    """The sliders (`sliders`: only those named; the others stay at `setting`), and the model
    redrawn whenever one moves; `with_laws`: the textbook laws under the figure."""
    import ipywidgets as w  # only where Jupyter runs: the rest of the lab does without

    start = asdict(setting or Setting())
    style = {"description_width": "9em"}
    # Redraw when a slider is let go, not at every step it passes (the steady state takes ~1 s).
    quiet = {"continuous_update": False}
    layout = w.Layout(width="30em")

    def slider(kind, name, label, **range_):
        return kind(
            value=start[name], description=label, style=style, layout=layout, **quiet, **range_
        )

    def toggle(name, label, options):
        return w.ToggleButtons(options=options, value=start[name], description=label, style=style)

    controls = {
        "load": toggle("load", "load", [("closed loop", "closed"), ("open arrivals", "open")]),
        "visitors": slider(w.IntSlider, "visitors", "visitors (closed)", min=1, max=30),
        "rho": slider(w.FloatSlider, "rho", "rho (open)", min=0.1, max=1.3, step=0.05),
        "delay_s": slider(w.FloatSlider, "delay_s", "provider delay (s)", min=0.1, max=3, step=0.1),
        "think_s": slider(w.FloatSlider, "think_s", "think time (s)", min=0, max=5, step=0.5),
        "workers": slider(w.IntSlider, "workers", "web workers", min=1, max=8),
        "threads": slider(w.IntSlider, "threads", "threads each", min=1, max=8),
        "queue": toggle("queue", "queue", ["shared", "per worker"]),
        "start": toggle("start", "start (closed)", ["staggered", "synchronized"]),
    }
    shown = set(sliders or controls)
    fixed = {k: w.fixed(v) for k, v in start.items() if k not in shown}  # the window, too
    output = w.interactive_output(
        show,
        {
            **fixed,
            **{k: c for k, c in controls.items() if k in shown},
            "with_laws": w.fixed(with_laws),
        },
    )
    left = [controls[k] for k in ("load", "visitors", "rho", "delay_s", "think_s") if k in shown]
    right = [controls[k] for k in ("workers", "threads", "queue", "start") if k in shown]
    return w.VBox([w.HBox([w.VBox(left), w.VBox(right)]), output])
