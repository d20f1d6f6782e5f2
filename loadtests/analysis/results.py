"""Reading and summarising benchmark results: the raw requests -> `summary.csv` rows.

Used by the sweep (to write `results/`) and by the notebooks (to read it back), so both compute
every figure the same way.
"""

from __future__ import annotations

import email
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

PROJECT_ROOT = Path(__file__).resolve().parents[2]
RESULTS_DIR = PROJECT_ROOT / "results"  # the committed reference (`make bench-reference`)
LOCAL_DIR = RESULTS_DIR / "local"  # a student's own `make bench`, never committed
SUMMARY_COLUMNS = [
    "app",
    "visitors",
    "smtp_delay_s",
    "web_workers",
    "web_threads",
    "celery_concurrency",
    "celery_pool",
    "generator",
    "repeat",
    "endpoint",
    "n",
    "errors",
    "pending",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "max_ms",
    "rps",
    "window_s",
    "p50_first_half_ms",
    "p50_second_half_ms",
    "steady",
    "accepted",
    "delivered",
    "queued_at_bound",
    "censored_from_ms",
    "worker_memory_mb",
    "memory_measure",  # PSS (Linux) or RSS: what worker_memory_mb sums over the pool
    "valid",
]
# The endpoints the summary reports: the rest of the site, the form's POST, and the email itself.
SUMMARY_ENDPOINTS = ("home", "contact_post", "email_delivery")
EXPECTED_STATUS = {"home": 200, "contact_form": 200, "contact_post": 302, "thanks": 200}
MESSAGE_REF = re.compile(r"Message (\d+) from visitor (\d+)")


@dataclass(frozen=True, kw_only=True)
class Point:
    """One run of the sweep: an app under a load, with the web tier's limits."""

    app: str
    visitors: int
    smtp_delay_s: float
    web_workers: int
    web_threads: int
    celery_concurrency: int
    generator: str = "locust"
    repeat: int = 1
    celery_pool: str = "prefork"

    @classmethod
    def one_worker(
        cls, app: str, visitors: int, smtp_delay_s: float, celery_concurrency: int, **more: object
    ) -> Point:
        """A run on the lab's default web tier: one gunicorn worker, one thread."""
        return cls(
            app=app,
            visitors=visitors,
            smtp_delay_s=smtp_delay_s,
            web_workers=1,
            web_threads=1,
            celery_concurrency=celery_concurrency,
            **more,
        )

    @property
    def name(self) -> str:
        pool = "" if self.celery_pool == "prefork" else self.celery_pool
        return (
            f"{self.app}-v{self.visitors:02d}-d{self.smtp_delay_s:g}"
            f"-w{self.web_workers}t{self.web_threads}-c{self.celery_concurrency}{pool}"
            f"-{self.generator}-r{self.repeat}"
        )

    def labels(self) -> dict[str, object]:
        return {
            "app": self.app,
            "visitors": self.visitors,
            "smtp_delay_s": self.smtp_delay_s,
            "web_workers": self.web_workers,
            "web_threads": self.web_threads,
            "celery_concurrency": self.celery_concurrency,
            "celery_pool": self.celery_pool,
            "generator": self.generator,
            "repeat": self.repeat,
        }


def message_ref(raw: str) -> tuple[int, int] | None:
    """(visitor, sequence) of a load-test email, from its body; None for any other email."""
    message = email.message_from_string(raw)
    body = message.get_payload(decode=True) or b""
    ref = MESSAGE_REF.search(body.decode("utf-8", errors="replace"))
    return (int(ref.group(2)), int(ref.group(1))) if ref else None


# numpy's name for the nearest-rank percentile: an observed value, never an interpolation
# between two requests. Every percentile of the lab is this one.
PERCENTILE_METHOD = "inverted_cdf"


def percentile(values: pd.Series | np.ndarray | list[float], q: float) -> float:
    """The nearest-rank percentile (PERCENTILE_METHOD); NaN for no values."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return float("nan")
    return float(np.percentile(values, q, method=PERCENTILE_METHOD))


def unanswered(requests: pd.DataFrame, endpoint: str) -> pd.DataFrame:
    """The requests for `endpoint` still waiting when the run ended: the generators write them
    as `pending` rows whose error ends with the endpoint they were for (`journey.write_raw`)."""
    pending = requests[requests["endpoint"] == "pending"]
    return pending[pending["error"].str.endswith(f": {endpoint}")]


def requests_frame(raw_csv: Path, meta: dict[str, float], point: Point) -> pd.DataFrame:
    """Locust's per-request CSV with the run's labels and the time relative to the window."""
    frame = pd.read_csv(raw_csv, keep_default_na=False)
    frame["ok"] = [
        status == EXPECTED_STATUS.get(endpoint, -1)
        for endpoint, status in zip(frame["endpoint"], frame["status"], strict=True)
    ]
    frame["t_s"] = frame["start"] - meta["window_start"]
    frame["in_window"] = (frame["start"] >= meta["window_start"]) & (
        frame["start"] < meta["window_end"]
    )
    for key, value in reversed(point.labels().items()):
        frame.insert(0, key, value)
    return frame


def deliveries_frame(
    deliveries: list[dict[str, object]], meta: dict[str, float], point: Point
) -> pd.DataFrame:
    """The provider's delivery log: which visitor's message arrived when, and how late."""
    rows = []
    for delivery in deliveries:
        ref = message_ref(str(delivery["raw"]))
        submitted = pd.Timestamp(str(delivery["submitted_at"])).timestamp()
        arrived = float(delivery["arrived_at"])
        rows.append(
            {
                "message_id": delivery["message_id"],
                "user": ref[0] if ref else -1,
                "sequence": ref[1] if ref else -1,
                "submitted": submitted,
                "arrived": arrived,
                "delay_ms": (arrived - submitted) * 1000,
                "t_s": submitted - meta["window_start"],
                "in_window": meta["window_start"] <= submitted < meta["window_end"],
            }
        )
    frame = pd.DataFrame(
        rows,
        columns=[
            "message_id",
            "user",
            "sequence",
            "submitted",
            "arrived",
            "delay_ms",
            "t_s",
            "in_window",
        ],
    )
    for key, value in reversed(point.labels().items()):
        frame.insert(0, key, value)
    return frame


def posts_with_messages(requests: pd.DataFrame) -> pd.DataFrame:
    """The contact POSTs, each with the `sequence` of the message it carried: a visitor's n-th
    POST carries its message n (`loadtests.load.journey.contact_fields(visitor, n)`)."""
    posted = requests[requests["endpoint"] == "contact_post"].sort_values("start")
    return posted.assign(sequence=posted.groupby("user").cumcount() + 1)


# Reading results back (notebooks, report, README)


def run_path(run: str | None = None) -> Path:
    """The folder `run` names (`LAB_RUN` when not given): `reference`, `local` or a path."""
    run = run or os.environ.get("LAB_RUN") or "reference"
    return {"reference": RESULTS_DIR, "local": LOCAL_DIR}.get(run, Path(run))


def run_dir(run: str | None = None) -> Path:
    """The run the notebooks read: `reference` (results/, the default), `local` (results/local/,
    your own `make bench`) or a folder; `LAB_RUN` chooses when `run` is not given."""
    path = run_path(run)
    if not (path / "summary.csv").exists():
        raise FileNotFoundError(f"no run in {path}: `make bench` writes results/local/")
    return path.resolve()


def load_summary(results_dir: Path = RESULTS_DIR) -> pd.DataFrame:
    summary = pd.read_csv(Path(results_dir) / "summary.csv")
    if "celery_pool" not in summary:  # written before the pool could be chosen: prefork
        summary.insert(SUMMARY_COLUMNS.index("celery_pool"), "celery_pool", "prefork")
    if "worker_rss_mb" in summary:  # written when the pool's resident sets were summed
        summary = summary.rename(columns={"worker_rss_mb": "worker_memory_mb"})
        summary.insert(summary.columns.get_loc("worker_memory_mb") + 1, "memory_measure", "RSS")
    return summary


def load_environment(results_dir: Path = RESULTS_DIR) -> dict[str, object]:
    return json.loads((Path(results_dir) / "environment.json").read_text())


def load_raw(
    results_dir: Path = RESULTS_DIR, kind: str = "requests", scenario: str = "sustained"
) -> pd.DataFrame:
    """The raw `kind` (requests, deliveries or backlog) of a scenario's points in one frame:
    of the sustained points, each point's first run with Locust (repeats and the second
    generator are in the summary; their raw files stay beside)."""
    files = sorted((Path(results_dir) / "raw").glob(f"*.{kind}.csv.gz"))
    files = [f for f in files if f.name.startswith("burst-") == (scenario == "burst")]
    if not files:
        raise FileNotFoundError(f"no raw {kind} in {results_dir / 'raw'}: run `make bench` first")
    frame = pd.concat([pd.read_csv(f, keep_default_na=False) for f in files], ignore_index=True)
    if "generator" in frame:
        frame = frame[(frame["generator"] == "locust") & (frame["repeat"] == 1)]
    return frame.reset_index(drop=True)


def load_burst(results_dir: Path = RESULTS_DIR) -> pd.DataFrame:
    return pd.read_csv(Path(results_dir) / "burst.csv")
