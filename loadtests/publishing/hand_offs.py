"""The README's "why not just a thread?" table: one row per way of handing off the email, every
cell read from the stored runs (the bench, the shortcut's bench, chaos, the soaks).

    python -m loadtests.publishing.hand_offs      # rewrite the README section from results/

It also rewrites the glossary's list of hand-offs, from the registry.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from lab_hand_offs import hand_off, names
from lab_settings import Settings
from lab_stack.stack import open_stack
from loadtests.analysis.plots import fmt_ms
from loadtests.analysis.results import RESULTS_DIR, load_summary
from loadtests.analysis.summary import collapse_repeats, is_lower_bound
from loadtests.publishing.records import commit_of, update_section
from loadtests.publishing.tables import markdown_table

MARKER = "hand-offs"
LIST_MARKER = "hand-off-list"  # the glossary's list of every registered hand-off
FAULTS = ("web-killed", "web-restarted", "provider-outage")
FAKES = {"provider", "rates_api"}  # the third parties: every hand-off has them
# The kinds of hand-off the bench compares in this table, each with the command that measures
# them (the apps into results/, the shortcuts into results/shortcut/). A web-tier variant runs
# the same code as its app: the open sweep (`make bench-open`) compares it.
MEASURED_BY = {"app": "make bench-reference", "shortcut": "make bench-shortcut"}
NOT_MEASURED = "not measured yet"


def _summary(results: Path) -> pd.DataFrame:
    paths = (results / "summary.csv", results / "shortcut" / "summary.csv")
    frames = [load_summary(p.parent) for p in paths if p.exists()]
    runs = pd.concat(frames, ignore_index=True)
    return collapse_repeats(runs[runs["generator"] == "locust"])


def _soaks(results: Path) -> dict[str, dict[str, object]]:
    soaks = {}
    for path in results.glob("soak*.json"):
        record = json.loads(path.read_text())
        soaks[record.get("app", "celery")] = record
    return soaks


def moving_parts(name: str) -> str:
    """The processes the hand-off runs besides the fake third parties, from its stack."""
    unlimited = {"rate_limit_s": 0.0, "prices_rate_limit_s": 0.0, "report_rate_limit_s": 0.0}
    stack = open_stack(name, Settings().replace(**unlimited))  # as benchmarked
    return ", ".join(sorted(set(stack.processes) - FAKES))


def table(results: Path = RESULTS_DIR, visitors: int = 10) -> pd.DataFrame:
    summary = _summary(results)
    at = summary[summary["visitors"] == visitors].set_index(["app", "endpoint"])
    chaos_csv = results / "chaos.csv"
    chaos = pd.read_csv(chaos_csv) if chaos_csv.exists() else pd.DataFrame(columns=["scenario"])
    chaos = chaos.set_index(["scenario", "app"]) if len(chaos) else chaos
    soaks = _soaks(results)
    rows = []
    for app in names(*MEASURED_BY):
        if (app, "home") not in at.index:
            rows.append(not_measured(app, visitors))
            continue
        home, post, mail = (
            at.loc[(app, "home")],
            at.loc[(app, "contact_post")],
            at.loc[(app, "email_delivery")],
        )
        bound = ">= " if is_lower_bound(mail["p50_ms"], mail["censored_from_ms"]) else ""
        lost = [
            f"{int(chaos.loc[(f, app), 'lost'])}/{int(chaos.loc[(f, app), 'accepted'])}"
            if (f, app) in chaos.index
            else "not run"
            for f in FAULTS
        ]
        key = ("provider-outage", app)
        outage = chaos.loc[key] if key in chaos.index else None
        retries = (
            "not run"
            if outage is None
            else f"no: {int(outage['lost'])} accepted, then lost"
            if outage["lost"]
            else f"no: {int(outage['error_page'])} error pages"
            if outage["error_page"]
            else "yes: none lost, none refused"
        )
        soak = soaks.get(app)
        memory = (
            f"{soak['rss_mb_after_warmup']['web']:.0f} -> "
            f"{soak['rss_mb_when_load_stopped']['web']:.0f} MB, backlog "
            f"{soak['backlog_when_load_stopped']}; the restart lost {soak['lost']}"
            if soak
            else "no backlog: the visitor waits"
        )
        cells = [
            f"{fmt_ms(home['p50_ms'])} / {fmt_ms(home['p95_ms'])}",
            fmt_ms(post["p50_ms"]),
            f"{bound}{fmt_ms(mail['p50_ms'])}",
            *lost,
            retries,
            memory,
            moving_parts(app),
        ]
        rows.append({"hand-off": app, **dict(zip(_columns(visitors), cells, strict=True))})
    return pd.DataFrame(rows)


def not_measured(name: str, visitors: int) -> dict[str, str]:
    """The row of a registered hand-off that no stored run has measured: says which command does."""
    first, *others = _columns(visitors)
    cells = {first: f"{NOT_MEASURED}: `{measured_by(name)}`", **dict.fromkeys(others, "")}
    return {"hand-off": name, **cells}


def measured_by(name: str) -> str:
    return MEASURED_BY[hand_off(name).kind]


def _columns(visitors: int) -> list[str]:
    """Every column after the hand-off's name, in the order of the table."""
    return [
        f"homepage p50 / p95 ({visitors} visitors)",
        "POST p50",
        "email delay p50",
        *(f"lost: {f} (of accepted)" for f in FAULTS),
        "retries (the provider's outage)",
        "web process RSS under a backlog (soak)",
        "processes",
    ]


def section(results: Path = RESULTS_DIR) -> str:
    paths = {
        "bench": results / "environment.json",
        "shortcut": results / "shortcut" / "environment.json",
        "chaos": results / "chaos.json",
    }
    records = {k: json.loads(p.read_text()) for k, p in paths.items() if p.exists()}
    dates = "; ".join(f"{k} {r['date'][:10]} at {commit_of(r)}" for k, r in records.items())
    return (
        markdown_table(table(results))
        + "\n\nFrom `results/summary.csv`, `results/shortcut/`, `results/chaos.csv` and "
        f"`results/soak*.json` ({dates}; soaks: "
        + ", ".join(f"{a} {r['date'][:10]}" for a, r in sorted(_soaks(results).items()))
        + ").\n"
    )


def glossary_list() -> str:
    """Every registered hand-off, one item each: its name, its kind and where the email goes."""
    items = (f"  - `{name}` ({hand_off(name).kind}): {hand_off(name).how}" for name in names())
    return "\n".join(items) + "\n"


def main() -> int:
    update_section(section(), marker=MARKER)
    update_section(glossary_list(), marker=LIST_MARKER)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
