"""What the class notebooks show besides figures: the apps' own code, read from the source files
when the notebook runs (so it never drifts from what was measured), and the summary table an
instructor ends on, every cell read from the stored runs.
"""

from __future__ import annotations

import ast
import html
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from IPython.display import HTML, Markdown

from lab_hand_offs import APPS, colour_of, names
from lab_stack.stack import PROJECT_ROOT
from loadtests.analysis import burst as burst_analysis
from loadtests.analysis.plots import fmt_ms
from loadtests.analysis.results import RESULTS_DIR, load_environment, load_summary, run_dir
from loadtests.analysis.summary import collapse_repeats, is_lower_bound
from loadtests.publishing.hand_offs import moving_parts

# The tag that marks each route's one line that differs between the apps (a comment a formatter
# or a refactor keeps; `tests/test_notebooks.py` checks there is exactly one per route).
MARK = "# hand-off:"


@dataclass(frozen=True)
class Run:
    """The `make bench` run a notebook reads: the reference, or yours (`LAB_RUN=local`)."""

    path: Path
    runs: pd.DataFrame  # every run of every point
    summary: pd.DataFrame  # one row per point: the median of its Locust runs
    model: pd.DataFrame  # the queueing model's prediction for each sync point
    env: dict[str, object]

    @property
    def delay_s(self) -> float:
        return float(self.env["plan"]["delay_s"])

    @property
    def top_visitors(self) -> int:
        return int(self.summary["visitors"].max())

    def about(self) -> Markdown:
        m, plan = self.env["machine"], self.env["plan"]
        which = "the committed reference" if self.path == RESULTS_DIR.resolve() else "your run"
        rel = os.path.relpath(self.path, RESULTS_DIR.parent)
        return Markdown(
            f"Reading **{which}** (`{rel}/`): `make bench` on {str(self.env['date'])[:10]}, "
            f"{m['cpu_model']}, {m['cores']} cores, Python {m['python']}, commit "
            f"{self.env.get('git_commit', '?')}. Web tier for every app: "
            f"{'/'.join(map(str, plan['web_workers']))} worker(s) x "
            f"{'/'.join(map(str, plan['web_threads']))} thread(s); provider delay "
            f"{plan['delay_s']:g} s; visitors {', '.join(map(str, plan['visitors']))}. "
            "`LAB_RUN=local` (or `make notebooks RUN=local`) reads your own `make bench`."
        )


def open_run(run: str | None = None) -> Run:
    path = run_dir(run)
    runs = load_summary(path)
    model_csv = path / "model.csv"
    model = pd.read_csv(model_csv) if model_csv.stat().st_size > 1 else pd.DataFrame()
    summary = collapse_repeats(runs[runs["generator"] == "locust"])
    return Run(path, runs, summary, model, load_environment(path))


def function_source(path: str, name: str, root: Path = PROJECT_ROOT) -> tuple[str, int]:
    """The source of the (possibly nested) function `name` in `path`, and its first line."""
    text = (root / path).read_text()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            lines = text.splitlines()[first - 1 : node.end_lineno]
            indent = min(len(x) - len(x.lstrip()) for x in lines if x.strip())
            return "\n".join(x[indent:] for x in lines), first
    raise LookupError(f"no function {name} in {path}")


def _code_cell(app: str, path: str, name: str) -> str:
    source, first = function_source(path, name)
    lines = []
    for number, line in enumerate(source.splitlines(), start=first):
        escaped = html.escape(line)
        if MARK in line:
            escaped = f'<mark style="background:{colour_of(app)}33">{escaped}</mark>'
        lines.append(f'<span style="color:#999">{number:4d}</span>  {escaped}')
    return (
        f'<td style="vertical-align:top;text-align:left"><b>{app}</b>: '
        f"<code>{path}</code><pre style='font-size:11px;text-align:left'>"
        + "\n".join(lines)
        + "</pre></td>"
    )


def contact_routes() -> dict[str, tuple[str, str]]:
    """Each app's `POST /contact`: (its file, its function)."""
    return {app: (APPS[app].contact_route, "contact_submit") for app in APPS}


def hand_offs_side_by_side(routes: dict[str, tuple[str, str]] | None = None) -> HTML:
    """Each app's route (by default `POST /contact`), from its source file, the hand-off line
    highlighted."""
    routes = routes or contact_routes()
    cells = "".join(_code_cell(app, path, name) for app, (path, name) in routes.items())
    return HTML(f"<table><tr>{cells}</tr></table>")


def hand_off_lines(app: str, context: int = 1) -> HTML:
    """One app's hand-off line in its `POST /contact`, with `context` lines either side, at a
    size a projector's back row reads: the class sees the apps one at a time."""
    path, name = contact_routes()[app]
    source, first = function_source(path, name)
    lines = source.splitlines()
    at = next(n for n, line in enumerate(lines) if MARK in line)
    near = range(max(0, at - context), min(len(lines), at + context + 1))
    indent = min(len(lines[n]) - len(lines[n].lstrip()) for n in near)
    shown = []
    for n in near:
        escaped = html.escape(lines[n][indent:])
        if n == at:
            escaped = f'<mark style="background:{colour_of(app)}33">{escaped}</mark>'
        shown.append(f'<span style="color:#999">{first + n:4d}</span>  {escaped}')
    return HTML(
        f'<div style="font-size:18px"><b>{app}</b>: <code>{path}</code>'
        f"<pre style='font-size:18px;line-height:1.3;text-align:left'>"
        + "\n".join(shown)
        + "</pre></div>"
    )


def _chaos(results: Path) -> pd.DataFrame:
    path = results / "chaos.csv"
    return pd.read_csv(path).set_index(["scenario", "app"]) if path.exists() else pd.DataFrame()


def summary_table(run: Path = RESULTS_DIR, results: Path = RESULTS_DIR) -> pd.DataFrame:
    """One row per app: what a visitor and the owner get, at the run's busiest sustained point,
    with the crash counts of `make chaos` (in `results`) and the processes each runs."""
    runs = load_summary(run)
    table = collapse_repeats(runs[runs["generator"] == "locust"])
    visitors = int(table["visitors"].max())
    at = table[table["visitors"] == visitors].set_index(["app", "endpoint"])
    chaos = _chaos(results)
    window = json.loads((run / "environment.json").read_text())["plan"]
    rows = {}
    for app in [a for a in names("app") if (a, "home") in at.index]:
        mail = at.loc[(app, "email_delivery")]
        bound = ">= " if is_lower_bound(mail["p50_ms"], mail["censored_from_ms"]) else ""
        killed = ("web-killed", app)
        rows[app] = {
            f"homepage p50 ({visitors} visitors)": fmt_ms(at.loc[(app, "home"), "p50_ms"]),
            "POST /contact p50": fmt_ms(at.loc[(app, "contact_post"), "p50_ms"]),
            "email delay p50": bound + fmt_ms(mail["p50_ms"]),
            "forms accepted in the window": int(mail["accepted"]),
            "web server killed mid-burst: accepted, then lost": (
                f"{int(chaos.loc[killed, 'lost'])} of {int(chaos.loc[killed, 'accepted'])}"
                if killed in chaos.index
                else "not run"
            ),
            "visitors left without an answer": (
                int(chaos.loc[killed, "no_answer"]) if killed in chaos.index else "not run"
            ),
            "processes": moving_parts(app),
        }
    frame = pd.DataFrame(rows)
    frame.index.name = f"{window['delay_s']:g} s provider, {visitors} visitors"
    return frame


def burst_note(run: Path, burst: pd.DataFrame, visitors: int) -> Markdown:
    """Under the burst figure: the first probe after the burst against the formula, and when it
    overtook some POSTs, why its wait is shorter than every POST ahead of it."""
    first = burst_analysis.first_probe(run, burst, visitors)
    text = (
        f"The first probe sent after the POSTs waited {fmt_ms(first['waited_ms'])}; the formula "
        f"gives {fmt_ms(first['predicted_ms'])}, every one of the {first['posts_before']} POSTs "
        "recorded as sent before it being ahead of it. "
    )
    if first["overtaken"]:
        text += (
            f"Here it was answered before {first['overtaken']} of them: it overtook them, and "
            f"waited about {first['overtaken']} x {first['delay_s']:g} s less. A load generator "
            "records a request as sent when it hands it to its connection; requests sent in the "
            "same few milliseconds, each on a connection of its own, reach the server's queue "
            "in whatever order their connections complete, not in the order recorded. The "
            "later probes are back on the line once the queue holds only what was sent before "
            "them."
        )
    else:
        text += "It was answered after all of them, in the order they were sent."
    return Markdown(text)


def whose(path: Path) -> str:
    """Whose measurement a stored file is: the reference committed with the lab, or a run made
    here (a file git does not track, or one changed since the last commit); "a stored run"
    where git cannot tell."""

    def git(*args: str) -> int:
        return subprocess.run(
            ["git", *args, "--", str(path)], cwd=PROJECT_ROOT, capture_output=True, timeout=10
        ).returncode

    try:
        tracked = git("ls-files", "--error-unmatch") == 0
        unchanged = tracked and git("diff", "--quiet", "HEAD") == 0
    except (OSError, subprocess.SubprocessError):
        return "a stored run"
    return "the reference" if unchanged else "your own run (not the committed reference)"


def source_note(table: Path, command: str) -> Markdown:
    """One line above a figure or table read straight from `results/`: whose data it is, the
    command that made it, when, on what."""
    record_path = table.with_suffix(".json")
    if not record_path.exists():
        record_path = table.parent / "environment.json"
    record = json.loads(record_path.read_text())
    machine = record["machine"]
    return Markdown(
        f"Data: **{whose(table)}**, `{command}` (`{os.path.relpath(table, PROJECT_ROOT)}`), "
        f"{str(record['date'])[:10]}, commit {record.get('git_commit', '?')}, "
        f"{machine['cpu_model']} ({machine['cores']} cores)."
    )
