"""The README's headline: every hand-off under the same open arrivals, the closed loop's two
regimes, and the article's C2/C3 judged scenario by scenario, each section made from `results/`.

    python -m loadtests.publishing.equal_load     # redraw the figures, rewrite their sections
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import pandas as pd

from loadtests.analysis import capacity, open_estimates, open_plots
from loadtests.analysis.plots import fmt_ms, save
from loadtests.analysis.results import RESULTS_DIR
from loadtests.publishing.open_checks import agreement_section
from loadtests.publishing.open_section import open_section
from loadtests.publishing.records import measured_on, update_section
from loadtests.publishing.scenario_claims import claims_text
from loadtests.publishing.tables import markdown_table

OPEN_MARKER, REGIMES_MARKER, CAPACITY_MARKER = "open-arrivals", "regimes", "capacity"


def _record(path: Path) -> dict[str, object]:
    return json.loads(path.with_suffix(".json").read_text())


def regimes_section(summary: pd.DataFrame, record: dict[str, object]) -> str:
    plan = record["plan"]
    rows = []
    for _, r in summary.iterrows():
        rows.append(
            {
                "start": r["start"],
                "visitors started over": f"{r['ramp_s']:.0f} s" if r["ramp_s"] else "one instant",
                "homepage p50 (each bin)": f"{fmt_ms(r['p50_ms'])} ({fmt_ms(r['bin_p50_min_ms'])}"
                f"-{fmt_ms(r['bin_p50_max_ms'])})",
                "p95": fmt_ms(r["p95_ms"]),
                "model p50": fmt_ms(r["model_p50_ms"]),
                "POSTs/s": f"{r['posts_per_s']:.2f}",
                "probes, whole window (unanswered)": f"{r['probes']} ({r['unanswered']})",
            }
        )
    return (
        measured_on(record) + f". Sync app 1x1, {plan['visitors']} visitors in a closed loop, "
        f"provider {plan['delay_s']:g} s, think {plan['think_s']:g} s, {plan['minutes']:g} "
        f"minutes each; figures leave out the first {summary['settle_s'].iloc[0]:.0f} s (two "
        f"cycles), bins of {plan['bin_s']:g} s (`results/regimes/`).\n\n"
        + markdown_table(pd.DataFrame(rows))
        + "\n\n![regimes.png](results/plots/regimes.png)\n"
    )


def capacity_section(web: pd.DataFrame, email: pd.DataFrame, record: dict[str, object]) -> str:
    """Where each part breaks: the web process's homepage throughput, the email worker's
    backlog against the formula."""
    rates = web.assign(
        cell=[
            f"{a:.0f}/s, p95 {fmt_ms(p)}"
            for a, p in zip(web["answered_per_s"], web["p95_ms"], strict=True)
        ]
    ).pivot_table(index="offered_per_s", columns="app", values="cell", aggfunc="first")
    rates = rates.reindex(columns=list(dict.fromkeys(web["app"]))).fillna("(stopped: broke)")
    rates = rates.reset_index().rename(columns={"offered_per_s": "homepage requests offered/s"})
    limits = capacity.web_capacity(web)
    said = "; ".join(
        f"{r.app} up to {r.capacity_per_s:.0f}/s"
        + (
            " (the highest rate tried)"
            if pd.isna(r.broke_at_per_s)
            else f" (not at {r.broke_at_per_s:.0f}/s)"
        )
        for r in limits.itertuples()
    )
    worker = email.assign(
        load=[
            f"{x:g}x ({a:.2f}/s arrived)"
            for x, a in zip(email["load_x"], email["arrived_per_s"], strict=True)
        ],
        sent=email["sent_per_s"].map(lambda v: f"{v:.2f}/s"),
        measured=email["backlog_growth_per_s"].map(lambda v: f"{v:+.2f}/s"),
        formula=email["formula_growth_per_s"].map(lambda v: f"{v:+.2f}/s"),
    )[["load", "sent", "measured", "formula", "backlog_at_end"]]
    worker.columns = [
        "arrivals (x its capacity)",
        "emails sent",
        "backlog growth, measured",
        "by the formula",
        "backlog at the window's end",
    ]
    capacity_s = float(email["worker_capacity_per_s"].iloc[0])
    return (
        "The web process alone, answering the homepage at a fixed rate (one gunicorn worker, "
        "an open load): answered per second and p95 at each rate offered. Its capacity, the "
        f"highest rate answered in full at a p95 <= 100 ms: {said}.\n\n"
        + markdown_table(rates)
        + f"\n\nThe Celery email worker with one process sends at most {capacity_s:g} emails/s "
        "(concurrency / provider delay). Visitors arriving faster grow its backlog by the "
        "difference every second, whatever the web tier does:\n\n"
        + markdown_table(worker)
        + f"\n\n{measured_on(record)} (`results/capacity/`, `make bench-capacity`).\n"
    )


def open_readme(results: Path = RESULTS_DIR) -> str:
    """The README's open-arrivals section: the sweep, the generators' agreement, the claims."""
    open_csv = results / "open" / "summary.csv"
    agreement_csv = results / "open" / "agreement" / "summary.csv"
    agreement = (
        agreement_section(pd.read_csv(agreement_csv), _record(agreement_csv))
        if agreement_csv.exists()
        else ""
    )
    points = open_estimates.load(results / "open")
    return (
        open_section(pd.read_csv(open_csv), points, _record(open_csv))
        + agreement
        + claims_text(results)
    )


def publish(results: Path = RESULTS_DIR) -> list[str]:
    """Redraw the figures and rewrite the README sections from what `results` holds."""
    matplotlib.use("Agg")
    done = []
    open_csv = results / "open" / "summary.csv"
    if open_csv.exists():
        figure = open_plots.open_arrivals(open_estimates.load(results / "open"))
        save(figure, results / "plots" / "open_arrivals.png")
        update_section(open_readme(results), OPEN_MARKER)
        done.append(OPEN_MARKER)
    regimes_csv = results / "regimes" / "summary.csv"
    if regimes_csv.exists():
        series = pd.read_csv(results / "regimes" / "series.csv")
        save(open_plots.regimes_over_time(series), results / "plots" / "regimes.png")
        update_section(
            regimes_section(pd.read_csv(regimes_csv), _record(regimes_csv)), REGIMES_MARKER
        )
        done.append(REGIMES_MARKER)
    web_csv = results / "capacity" / "web.csv"
    if web_csv.exists():
        email = pd.read_csv(results / "capacity" / "email.csv")
        update_section(
            capacity_section(pd.read_csv(web_csv), email, _record(web_csv)), CAPACITY_MARKER
        )
        done.append(CAPACITY_MARKER)
    return done


def main() -> int:
    publish()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
