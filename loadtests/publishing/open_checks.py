"""The open sweep's generator check, as docs/results.md shows it: the two generators on the same
schedules."""

from __future__ import annotations

import pandas as pd

from loadtests.analysis.plots import fmt_ms
from loadtests.publishing.records import measured_on
from loadtests.publishing.tables import markdown_table


def error(model: float, measured: float) -> str:
    return f"{(model - measured) / measured:+.0%}"


def agreement_section(table: pd.DataFrame, record: dict[str, object]) -> str:
    """Both generators on the same schedules: per schedule, and averaged over the schedules."""
    rows, verdicts = [], []
    for rho, at_rho in table.groupby("rho"):
        for seed, runs in at_rho.groupby("seed"):
            by = runs.set_index("generator")
            if not {"locust", "threads"} <= set(by.index):
                continue
            locust, threads = by.loc["locust"], by.loc["threads"]
            rows.append(
                {
                    "rho": f"{rho:g}",
                    "schedule (seed)": str(seed),
                    "Locust mean / p95": f"{fmt_ms(locust['home_mean_ms'])} / "
                    f"{fmt_ms(locust['home_p95_ms'])}",
                    "threads mean / p95": f"{fmt_ms(threads['home_mean_ms'])} / "
                    f"{fmt_ms(threads['home_p95_ms'])}",
                    "threads vs Locust": f"{error(*by.loc[['threads', 'locust'], 'home_mean_ms'])}"
                    f" / {error(*by.loc[['threads', 'locust'], 'home_p95_ms'])}",
                    "POST service, Locust / threads": f"{fmt_ms(locust['post_service_ms'])} / "
                    f"{fmt_ms(threads['post_service_ms'])}",
                    "model fed each run's service times vs measured": "Locust "
                    f"{error(locust['replay_mean_ms'], locust['home_mean_ms'])} / "
                    f"{error(locust['replay_p95_ms'], locust['home_p95_ms'])}, threads "
                    f"{error(threads['replay_mean_ms'], threads['home_mean_ms'])} / "
                    f"{error(threads['replay_p95_ms'], threads['home_p95_ms'])}",
                }
            )
        means = at_rho.groupby("generator")[["home_mean_ms", "home_p95_ms"]].mean()
        if {"locust", "threads"} <= set(means.index):
            verdicts.append(
                f"at rho {rho:g}, averaged over {at_rho['seed'].nunique()} schedules, threads vs "
                f"Locust {error(*means.loc[['threads', 'locust'], 'home_mean_ms'])} on the mean, "
                f"{error(*means.loc[['threads', 'locust'], 'home_p95_ms'])}"
                " on the p95"
            )
    if not rows:
        return ""
    return (
        "\nDo the two generators measure the same thing? The sync app on the same schedules, "
        "each measured once by Locust and once by the threads generator (which shares nothing "
        "with Locust), mean / p95 of the homepage (`make bench-open-agreement`, "
        "`results/open/agreement/`). "
        + measured_on(record)
        + ".\n\n"
        + markdown_table(pd.DataFrame(rows))
        + "\n\nSo: "
        + "; ".join(verdicts)
        + ". Near rho = 1 the wait is steep in the service time (M/D/1's rho / (1 - rho)): a "
        "POST a few milliseconds slower in one run moves the wait by several percent; the last "
        "column feeds the model each run's own service times.\n"
    )
