"""Runs of the open sweep measured again (`make bench-open ... --into`), put in place of the ones
they repeat, with a record of which, when and why."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd

from loadtests.analysis.open_arrivals_plan import OpenPlan
from loadtests.analysis.open_summary import OpenPoint
from loadtests.publishing.records import write_table


def put_in_place(
    plan: OpenPlan, again: pd.DataFrame, record: dict[str, object]
) -> tuple[pd.DataFrame, dict[str, object]]:
    """`again`'s runs (measured into `plan.out`) in place of the ones they repeat in the sweep
    at `plan.into` (the same hand-off, rho, generator and schedule), their raw data with them;
    the sweep's record keeps which runs, when, at which commit and why. Returns the sweep's
    table and record."""
    summary_csv = plan.into / "summary.csv"
    table = pd.read_csv(summary_csv)
    sweep = json.loads(summary_csv.with_suffix(".json").read_text())
    key = ["hand_off", "rho", "generator", "seed"]
    new = again.set_index(key)
    have = set(table.set_index(key).index)
    if missing := set(new.index) - have:
        raise ValueError(f"{summary_csv} has no run to replace for {sorted(missing)}")
    merged = pd.DataFrame(
        [
            {**row.to_dict(), **new.loc[tuple(row[key])].to_dict()}
            if tuple(row[key]) in new.index
            else row.to_dict()
            for _, row in table.iterrows()
        ]
    )[table.columns].astype(table.dtypes.to_dict())
    names = [
        OpenPoint(r.hand_off, r.rho, r.delay_s, r.generator, r.seed).name
        for r in again.itertuples()
    ]
    for name in names:
        for part in ("requests", "deliveries"):
            raw = f"{name}.{part}.csv.gz"
            shutil.copy(plan.out / "raw" / raw, plan.into / "raw" / raw)
    sweep.setdefault("measured_again", []).append(
        {
            "runs": names,
            "why": plan.why,
            **{k: record[k] for k in ("date", "git_commit", "git_uncommitted_changes")},
            "wall_time_s": record["wall_time_s"],
        }
    )
    write_table(merged, summary_csv, sweep)
    print(f"Put {len(names)} runs in place in {os.path.relpath(summary_csv, Path.cwd())}.")
    return merged, sweep
