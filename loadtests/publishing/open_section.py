"""The open sweep's section of docs/results.md: every hand-off's homepage per arrival rate with
its interval, the sync app point by point against the model, the mail and the overload point;
and the cells the class and the terminal show of it."""

from __future__ import annotations

import pandas as pd

from loadtests.analysis import open_plots
from loadtests.analysis.open_estimates import fmt_pm
from loadtests.analysis.plots import fmt_ms
from loadtests.publishing.records import measured_on
from loadtests.publishing.tables import markdown_table


def open_section(table: pd.DataFrame, points: pd.DataFrame, record: dict[str, object]) -> str:
    """The sweep: every hand-off's homepage per rate with its interval, the sync app point by
    point against the model's long run, the mail and the overload point."""
    overload = open_plots.first_runs(table[table["rho"] >= 1])
    delay = float(table["delay_s"].iloc[0])
    plan = record["plan"]
    schedules = int(points["schedules"].min())
    lines = [
        measured_on(record)
        + f"; {record['wall_time_s'] / 60:.0f} minutes"
        + _estimated_at(record)
        + _measured_again(record)
        + ". Provider delay "
        f"{delay:g} s, so the sync worker's capacity is {1 / delay:g} visitors/s; web tier 1 "
        f"worker x 1 thread for every hand-off; the homepage probe {plan['probe_rate']:g}/s on "
        f"a fixed schedule. Every point ran on {_schedules(schedules)}, the same ones for every "
        "hand-off, one journey per visitor. The sync app's warm-up is one relaxation time of "
        f"its queue, delay / (1 - rho)^2, and its window {plan['settle_windows']:g} of them (at "
        f"least {plan.get('min_queue_window_s', plan['min_window_s']):g} s); the others' "
        f"{plan['min_window_s']:g} s (`results/open/summary.csv`, one row per run; "
        "`results/open/estimates.csv`, one per point).",
        "",
        "Homepage p95 / mean by arrival rate, each with its 95% interval: for the sync app "
        "the steady state (the model's long run calibrated on its windows; what the windows "
        "themselves measured is in the next table), for the others the mean over their windows "
        "(how: below the table). Rows: rho offered, the visitors a second, and the rho carried "
        "(the rate offered x the POST's measured service time):",
        "",
        markdown_table(by_rho(points, estimate_cell)),
        "",
        sync_points_text(points),
        "Email delay p50 over every accepted email (>=: some still queued when the wait ended), "
        "and the POST's p50, each the mean over the schedules:",
        "",
        markdown_table(by_rho(points, mail_cell)),
        "",
        _overload_text(overload),
        "",
        "![open_arrivals.png](results/plots/open_arrivals.png)",
    ]
    return "\n".join(line for line in lines if line is not None) + "\n"


def _estimated_at(record: dict[str, object]) -> str:
    """Where the model's columns and the estimates were computed again after the run."""
    again = record.get("model_replayed_with")
    if not again:
        return ""
    dirty = " with uncommitted changes" if again["git_uncommitted_changes"] else ""
    return f" (the model and the estimates computed at commit {again['git_commit']}{dirty})"


def _measured_again(record: dict[str, object]) -> str:
    """Which runs were measured again after the sweep, when and why (its record keeps them)."""
    return "".join(
        f". {len(again['runs'])} runs measured again on {again['date'][:16].replace('T', ' ')} "
        f"at commit {again['git_commit']} (`results/open/remeasured/`): {again['why'].rstrip('.')}"
        for again in record.get("measured_again", [])
    )


def _schedules(n: int) -> str:
    return "one Poisson schedule (seed 1)" if n == 1 else f"{n} Poisson schedules (seeds 1-{n})"


def by_rho(points: pd.DataFrame, cell) -> pd.DataFrame:
    """One row per arrival rate (rho offered, the visitors per second, and the rho carried
    where it is known), one column per hand-off, `cell(row)` in each."""
    columns = {}
    for hand_off, rows in points.groupby("hand_off", sort=False):
        columns[hand_off] = {_rate_label(r): cell(r) for _, r in rows.iterrows()}
    frame = pd.DataFrame(columns)
    frame.insert(0, "rho (visitors/s offered; rho carried)", frame.index)
    return frame


def _rate_label(row: pd.Series) -> str:
    label = f"{row['rho']:g} ({row['offered_rate']:.2f}/s"
    true_rho = row.get("true_rho", float("nan"))
    return label + ("" if pd.isna(true_rho) else f"; {true_rho:.2f}") + ")"


def estimate_cell(row: pd.Series) -> str:
    bound = ">= " if row.get("home_unanswered", 0) else ""
    return (
        f"{bound}{fmt_pm(row['home_p95_ms'], row['home_p95_low_ms'], row['home_p95_high_ms'])}"
        f" / {fmt_pm(row['home_mean_ms'], row['home_mean_low_ms'], row['home_mean_high_ms'])}"
    )


def measured_cell(row: pd.Series) -> str:
    """What the windows measured: p95 / mean, each the mean over the schedules with its
    interval (for a hand-off that does not queue, its estimate)."""
    bound = ">= " if row.get("home_unanswered", 0) else ""
    return f"{bound}{pm(row, 'windows_p95')} / {pm(row, 'windows_mean')}"


def window_spread_line(row: pd.Series) -> str:
    """How far one window of this length strays, for a blocking point: the model's 10th-90th
    percentile over many schedules, beside the steady state."""
    return (
        f"  {row['hand_off']} at rho {row['rho']:g}: one {row['window_s']:.0f} s window gives a "
        f"mean of {fmt_ms(row['window_mean_p10_ms'])} to {fmt_ms(row['window_mean_p90_ms'])} "
        f"and a p95 of {fmt_ms(row['window_p95_p10_ms'])} to {fmt_ms(row['window_p95_p90_ms'])} "
        f"(8 schedules in 10, by the model); its long run: {fmt_ms(row['longrun_mean_ms'])}, "
        f"p95 {fmt_ms(row['longrun_p95_ms'])}."
    )


def sync_points_text(points: pd.DataFrame) -> str:
    """The blocking hand-off point by point: the estimate, the plain mean over the windows,
    the model's long run and one window's spread, and whether they agree."""
    blocking = points[points["method"].str.startswith("model")]
    if blocking.empty:
        return ""
    rows, agree = [], []
    for _, r in blocking.iterrows():
        rows.append(
            {
                "rho offered (carried; each window's)": f"{r['rho']:g} ({r['true_rho']:.2f}; "
                f"{r['windows_rho_min']:.2f} to {r['windows_rho_max']:.2f})",
                "the windows measured: p95 / mean / p50": " / ".join(
                    pm(r, f"windows_{stat}") for stat in ("p95", "mean", "p50")
                ),
                "steady state: p95 / mean / p50": " / ".join(
                    pm(r, f"home_{stat}") for stat in ("p95", "mean", "p50")
                ),
                "model's long run: p95 / mean": f"{fmt_ms(r['longrun_p95_ms'])} / "
                f"{fmt_ms(r['longrun_mean_ms'])}",
                "one window, 8 in 10: p95; mean (the model's average window)": (
                    f"{fmt_ms(r['window_p95_p10_ms'])} to {fmt_ms(r['window_p95_p90_ms'])}; "
                    f"{fmt_ms(r['window_mean_p10_ms'])} to {fmt_ms(r['window_mean_p90_ms'])} "
                    f"({fmt_ms(r['window_mean_avg_ms'])})"
                ),
                "measured / replay: p95, mean, p50": ", ".join(
                    _ratio(r, stat) for stat in ("p95", "mean", "p50")
                ),
                "M/D/1 mean": fmt_ms(r["md1_mean_ms"]) if "md1_mean_ms" in r else "n/a",
            }
        )
        agree.append(f"rho {r['rho']:g}: {_agreement(r)}")
    n = int(blocking["schedules"].min())
    return (
        "How each sync point is estimated. Near rho 1 one window is one draw from a wide "
        "distribution: a queue remembers its past for about a relaxation time, so a few minutes "
        "hold only a few independent stretches of it (the column *one window*: where 8 "
        "schedules in 10 put a window of this length, by the model, and in brackets the "
        "model's average window). *The windows measured*: the mean over the "
        f"{n} windows of each figure, with its t-interval; honest, but wide, and near capacity "
        "low. *Steady state*: the model's long run (at least 100,000 s of the same FIFO queue, "
        "fed the POST's and the page's median times these runs measured) times the mean ratio "
        "of what was measured to the model's replay of each run's own schedule (a control "
        "variate); its interval comes from the ratios' spread over the schedules and the long "
        "run's own error, and assumes the worker behaves over hours as in its windows. A ratio "
        "whose interval leaves 1 would say the model misses something the real worker does. "
        "M/D/1 (Pollaczek-Khinchine, rho x delay / (2 (1 - rho)) plus the page's own time, at "
        "the rho carried) treats each visitor as one job: the textbook answer.\n\n"
        + markdown_table(pd.DataFrame(rows))
        + "\n\nDoes the model agree with what was measured? "
        + "; ".join(agree)
        + ". Near capacity the model's own average window sits below its long run: a window of "
        "a few minutes that starts with an empty queue mostly misses the long busy stretches "
        "that make the long-run mean and p95. So the windows measured read low there, and the "
        "steady state is the figure to expect of a long day; no run here measured one.\n"
    )


def _agreement(row: pd.Series) -> str:
    """Whether the plain interval of the windows holds what the model expects of windows that
    long, and whether the measured / replay ratio's interval holds 1."""
    if pd.isna(row["windows_mean_low_ms"]):
        return "one schedule, no interval to judge by"
    low, high = row["windows_mean_low_ms"], row["windows_mean_high_ms"]
    expected = row["window_mean_avg_ms"]
    inside = low <= expected <= high
    ratio_low, ratio_high = (row[f"measured_over_replay_mean_{end}"] for end in ("low", "high"))
    holds_one = ratio_low <= 1 <= ratio_high
    return (
        f"the model's mean for windows this long, {fmt_ms(expected)}, is "
        f"{'inside' if inside else 'outside'} the windows' {fmt_ms(max(low, 0))} to "
        f"{fmt_ms(high)}; the measured / replay ratio's interval "
        f"{'holds' if holds_one else 'does not hold'} 1"
    )


def pm(row: pd.Series, name: str) -> str:
    """A row's estimate `name` with its interval: 1.6 s ±12%."""
    return fmt_pm(row[f"{name}_ms"], row[f"{name}_low_ms"], row[f"{name}_high_ms"])


def _ratio(row: pd.Series, stat: str) -> str:
    value, low = row[f"measured_over_replay_{stat}"], row[f"measured_over_replay_{stat}_low"]
    if pd.isna(low):
        return f"{value:.2f}"
    return f"{value:.2f} ({low:.2f} to {row[f'measured_over_replay_{stat}_high']:.2f})"


def mail_cell(row: pd.Series) -> str:
    bound = ">= " if row["emails_queued_at_bound"] else ""
    return f"{bound}{fmt_ms(row['email_p50_ms'])} (POST {fmt_ms(row['post_p50_ms'])})"


def _overload_text(overload: pd.DataFrame) -> str:
    sync = overload[overload["hand_off"] == "sync"]
    if sync.empty:
        return ""
    r = sync.iloc[0]
    others = overload[overload["hand_off"] != "sync"]
    worst_other = fmt_ms(others["home_p95_ms"].max()) if len(others) else "n/a"
    carried = r["achieved_rate"] * r["post_service_ms"] / 1000
    return (
        f"\nOverload, rho {r['rho']:g} offered ({carried:.2f} carried: {r['achieved_rate']:.2f} "
        f"visitors/s arrived x a {fmt_ms(r['post_service_ms'])} POST), one schedule for "
        f"{r['window_s']:.0f} s: more work arrives than the sync worker does, so every second "
        f"adds to the wait: measured {r['wait_growth_s_per_s']:.2f} s per s, predicted "
        f"{r['predicted_growth_s_per_s']:.2f} for the journey, where a visitor's POST joins the "
        "queue only once its form GET is served, so the POSTs of visitors still waiting for "
        "their form are not yet ahead of a probe (about 1 - 1/sqrt(rho)); a single queue of "
        "whole jobs (each visitor's three requests as one) would grow by the offered rate x "
        "(the provider's delay plus three pages) - 1 = "
        f"{r['textbook_growth_s_per_s']:.2f}. One schedule, so no interval: the slope of one "
        f"window that started with an empty queue. Its homepage p95 {fmt_ms(r['home_p95_ms'])}. "
        f"The other hand-offs' worst homepage p95 there: {worst_other}."
    )


def schedules_said(row: pd.Series) -> str:
    """How the point was measured, in a sentence a class reads."""
    n = int(row["schedules"])
    if n == 1:
        return "one schedule of arrivals, so no interval (`make bench-open` runs three)."
    return (
        f"the mean over {n} windows, each on its own random schedule of arrivals; ± is half "
        "its 95% interval, as a share of it."
    )
