"""What `make bench` prints and writes: its terminal lines, `results/` files, figures, report.md
and the README's results section, all computed from the stored files (so `--replot` gives the
same report as the run that measured)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from lab_settings import Settings
from loadtests.analysis import burst as burst_analysis
from loadtests.analysis import plots
from loadtests.analysis.capacity import web_capacity
from loadtests.analysis.claims import Claim, claims
from loadtests.analysis.plots import fmt_ms
from loadtests.analysis.results import (
    LOCAL_DIR,
    PROJECT_ROOT,
    RESULTS_DIR,
    SUMMARY_COLUMNS,
    load_summary,
)
from loadtests.analysis.summary import (
    collapse_repeats,
    is_lower_bound,
)
from loadtests.publishing import compare
from loadtests.publishing.bench_markdown import render_report
from loadtests.publishing.compare import BenchPlan
from loadtests.publishing.records import machine_record, settings_record, update_section
from loadtests.publishing.tables import (
    claims_frame,
    setup_part,
    setups,
    text_table,
)


def plan_line(plan: BenchPlan, sustained: int, bursts: int) -> str:
    return (
        f"Bench: {sustained} sustained points ({', '.join(plan.apps)} x visitors "
        f"{', '.join(map(str, plan.visitors))}"
        + (f"; {plan.repeats} runs at {plan.repeat_visitors}" if plan.repeats > 1 else "")
        + ("; threads generator too" if plan.second_generator else "")
        + f") and {bursts} burst(s) of {', '.join(map(str, plan.burst)) or 'no'} visitors; "
        f"provider delay {plan.delay_s:g} s; web tier {'/'.join(map(str, plan.web_workers))} "
        f"worker(s) x {'/'.join(map(str, plan.web_threads))} thread(s) for every app. "
        f"About {plan.total_estimate_s() / 60:.0f} minutes (the windows, warm-ups and stack "
        "start-ups the plan sets)."
    )


def point_line(rows: list[dict[str, object]], model_ms: float | None) -> str:
    by = {r["endpoint"]: r for r in rows}
    home, post, mail = by["home"], by["contact_post"], by["email_delivery"]
    text = f"homepage p50 {fmt_ms(home['p50_ms'])} p95 {fmt_ms(home['p95_ms'])} (n={home['n']})"
    text += f", halves {fmt_ms(home['p50_first_half_ms'])} / {fmt_ms(home['p50_second_half_ms'])}"
    text += "" if home["steady"] else " NOT STEADY"
    if model_ms is not None:
        # As everywhere the lab sets a model beside a measurement: (model - measured) / measured.
        text += f", model {fmt_ms(model_ms)} ({(model_ms - home['p50_ms']) / home['p50_ms']:+.0%})"
    if post["n"]:
        bound = ">= " if is_lower_bound(mail["p50_ms"], mail["censored_from_ms"]) else ""
        text += f" | POST p50 {fmt_ms(post['p50_ms'])} | emails: {mail['accepted']} accepted, "
        text += f"{mail['delivered']} delivered, {mail['queued_at_bound']} still queued, "
        text += f"delay p50 {bound}{fmt_ms(mail['p50_ms'])}"
    if home["errors"] or home["pending"] or post["errors"]:
        text += f" | errors {home['errors'] + post['errors']}, unanswered {home['pending']}"
    if not home["valid"]:
        text += "  INVALID: Locust's CPU warning fired"
    return text


def burst_line(row: dict[str, object]) -> str:
    return (
        f"{row['posts_ok']}/{row['posts']} POSTs answered, the last after "
        f"{row['drained_s']:.1f} s (predicted {row['predicted_drained_s']:.1f} s); first probe "
        f"after the burst {fmt_ms(row['first_probe_ms'])} (predicted "
        f"{fmt_ms(row['predicted_first_ms'])}), worst {fmt_ms(row['worst_probe_ms'])}"
    )


def environment(
    plan: BenchPlan, base: Settings, started: float, wall_s: float
) -> dict[str, object]:
    plan_record = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(plan).items()}
    plan_record["out"] = os.path.relpath(plan.out, PROJECT_ROOT)
    plan_record["timing_s"] = {
        p.name: dict(zip(("ramp", "warmup", "window"), plan.timing(p), strict=True))
        for p in plan.sustained_points()
        if p.repeat == 1 and p.generator == "locust"
    }
    return {
        **machine_record(started, base),
        "wall_time_s": round(wall_s, 1),
        "plan": plan_record,
        "settings": settings_record(base),
        "notes": [
            "Every app ran under the same web tier: the plan's web_workers x web_threads.",
            "Ports were chosen free for each point; the lab started its own Redis (redis_server "
            "says which binary) unless REDIS_URL was set.",
            "The rate limits were off: every simulated visitor comes from 127.0.0.1.",
        ],
    }


Rows = list[dict[str, object]]


def write_results(
    plan: BenchPlan,
    *,
    settings: Settings,
    started: float,
    wall_s: float,
    summary_rows: Rows,
    model_rows: Rows,
    burst_rows: Rows,
) -> None:
    out, base, wall = plan.out, settings, wall_s
    pd.DataFrame(summary_rows, columns=SUMMARY_COLUMNS).to_csv(
        out / "summary.csv", index=False, float_format="%.3f"
    )
    pd.DataFrame(model_rows).to_csv(out / "model.csv", index=False, float_format="%.3f")
    pd.DataFrame(burst_rows).to_csv(out / "burst.csv", index=False, float_format="%.3f")
    env = environment(plan, base, started, wall)
    (out / "environment.json").write_text(json.dumps(env, indent=2) + "\n")
    for stale in ("throughput.csv",):  # written by earlier versions of the bench
        (out / stale).unlink(missing_ok=True)
    written = write_plots(out)
    report_md, found = rebuild_report(out)
    (out / "report.md").write_text(report_md)
    print()
    print(
        text_table(claims_frame(found)) if found else "No claims: this run covers several setups."
    )
    for note in compare.notes(plan):
        print("\n" + note)
    print(
        f"\nWrote {os.path.relpath(out, Path.cwd())}/: summary.csv, model.csv, burst.csv, "
        f"environment.json, report.md, raw/ ({len(list((out / 'raw').iterdir()))} files), "
        f"plots/ ({len(written)} PNGs)"
    )
    print(f"The bench took {wall / 60:.1f} minutes.")
    if out.resolve() == RESULTS_DIR.resolve():
        update_section(report_md)
    elif out.resolve() == LOCAL_DIR.resolve():
        print("The committed reference (results/) and docs/ are unchanged.\n")
        print(compare.report(out))  # last: the verdict on the shape


def _read(path: Path) -> pd.DataFrame:
    """A stored table, or an empty frame where there is none (a sweep without the sync app)."""
    return pd.read_csv(path) if path.exists() and path.stat().st_size > 1 else pd.DataFrame()


def read_results(out: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """summary, model and burst of the results in `out`."""
    summary = load_summary(out) if (out / "summary.csv").exists() else pd.DataFrame()
    return summary, _read(out / "model.csv"), _read(out / "burst.csv")


BENCH_FIGURES = (
    "homepage_latency.png",
    "contact_post_latency.png",
    "email_delivery.png",
    "burst-*.png",
)


def clear_figures(out: Path) -> None:
    """The bench's own figures; the open sweep's and the regimes' beside them stay."""
    for pattern in BENCH_FIGURES:
        for path in (out / "plots").glob(pattern):
            path.unlink()


def write_plots(out: Path) -> list[Path]:
    """The bench's figures; with several web tiers or worker pools, one set for each."""
    summary, model, burst = read_results(out)
    table = collapse_repeats(summary[summary["generator"] == "locust"])
    written, several = [], len(setups(summary)) > 1
    for setup in setups(summary):
        suffix = "-w{}t{}-c{}{}".format(*setup).removesuffix("prefork") if several else ""
        part = setup_part(table, setup)
        charts = {
            "homepage_latency": plots.homepage_latency(part, setup_part(model, setup)),
            "contact_post_latency": plots.contact_post_latency(part),
            "email_delivery": plots.email_delivery(part),
        }
        for name, fig in charts.items():
            written.append(plots.save(fig, out / "plots" / f"{name}{suffix}.png"))
    for visitors in sorted(set(burst["visitors"])) if len(burst) else []:
        probes = burst_analysis.timeline_probes(out, burst, visitors)
        delay = float(burst["smtp_delay_s"].iloc[0])
        fig = plots.burst_timeline(probes, int(visitors), delay)
        written.append(plots.save(fig, out / "plots" / f"burst-{int(visitors)}.png"))
    return written


def rebuild_report(out: Path) -> tuple[str, list[Claim]]:
    """`report.md` of the results in `out`, computed from its files alone, and its claims."""
    summary, model, burst = read_results(out)
    env = json.loads((out / "environment.json").read_text())
    cpu = _read(RESULTS_DIR / "cpu_per_request.csv")  # make bench-cpu's, judged with C5
    if out.resolve() != RESULTS_DIR.resolve():
        cpu.attrs["source"] = "the reference machine's make bench-cpu, server side"
    capacity_csv = RESULTS_DIR / "capacity" / "web.csv"  # make bench-capacity's, judged with C5
    web = web_capacity(pd.read_csv(capacity_csv)) if capacity_csv.exists() else None
    found = claims(summary, model, burst, cpu, web) if len(setups(summary)) == 1 else []
    report = render_report(out, summary=summary, model=model, burst=burst, found=found, env=env)
    return report, found


def replot(out: Path) -> int:
    """Draw the figures and write the report again from the files in `out`; measure nothing."""
    clear_figures(out)
    written = write_plots(out)
    report_md, _found = rebuild_report(out)
    (out / "report.md").write_text(report_md)
    print(f"{os.path.relpath(out, Path.cwd())}: {len(written)} figures and report.md redrawn")
    if out.resolve() == RESULTS_DIR.resolve():
        update_section(report_md)
    return 0
