"""The visitor's journey as plain HTTP, shared by the Locust scenario, the tests and the demo."""

from __future__ import annotations

import csv
import json
import random
import re
import time
from pathlib import Path

import requests

RAW_COLUMNS = ("endpoint", "user", "start", "latency_ms", "status", "error")
STILL_WAITING = "still waiting when the run ended: "
CSRF_INPUT = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
WATCH_TOKEN = re.compile(r'followTask\("[^"]+", \d+, "([0-9a-f]+)"')


def csrf_token_from(html: str) -> str:
    """The CSRF token in the contact form's HTML; ValueError if the page has no form."""
    match = CSRF_INPUT.search(html)
    if match is None:
        raise ValueError("no CSRF token in the page: is this the contact form?")
    return match.group(1)


def contact_fields(visitor: int, sequence: int) -> dict[str, str]:
    """A valid submission, different for every visitor and message."""
    return {
        "name": f"Visitor {visitor}",
        "email": f"visitor{visitor}@example.com",
        "message": f"Message {sequence} from visitor {visitor}: do you bake rye on Sundays?",
    }


def poisson_arrivals(rate_per_s: float, until_s: float, seed: int) -> list[float]:
    """When visitors arrive (seconds from the run's start), as a Poisson process: independent
    exponential gaps of mean 1/rate. Seeded, so both generators and the model replay one
    schedule. Arrivals do not depend on the answers: a stalled site still receives them."""
    rng = random.Random(seed)
    arrivals, t = [], rng.expovariate(rate_per_s)
    while t < until_s:
        arrivals.append(t)
        t += rng.expovariate(rate_per_s)
    return arrivals


def watch_token_from(html: str) -> str | None:
    """The watch token in a task page's HTML, which the push service asks of its followers;
    None when the page follows nothing (the task was over before the page was asked for)."""
    match = WATCH_TOKEN.search(html)
    return None if match is None else match.group(1)


def final_update(
    push_url: str, task_id: str, watch: str, timeout_s: float = 60
) -> dict[str, object]:
    """A Celery task's final update, followed as the page's fallback does: by long polling."""
    since, deadline = 0.0, time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = requests.get(
            f"{push_url}/updates/{task_id}", params={"watch": watch, "since": since}, timeout=30
        )
        if answer.status_code == 200:
            update = answer.json()
            if update["final"]:
                return update
            since = update["at"]
    raise TimeoutError(f"no final update for task {task_id} within {timeout_s} s")


def write_raw(
    raw_csv: Path,
    rows: list[tuple[object, ...]],
    waiting: list[tuple[float, str]],
    meta: dict[str, object],
) -> None:
    """A generator's record of its run: every request (RAW_COLUMNS), plus one `pending` row per
    request started in the window and never answered (at least this long, counted apart; its
    `error` names the endpoint it was for, after STILL_WAITING), and
    the window's metadata beside it as JSON. Both generators write it, so one analysis reads it."""
    now = time.time()
    pending = [
        (
            "pending",
            -1,
            f"{start:.6f}",
            f"{(now - start) * 1000:.3f}",
            0,
            f"{STILL_WAITING}{endpoint}",
        )
        for start, endpoint in waiting
    ]
    with raw_csv.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(RAW_COLUMNS)
        writer.writerows([*rows, *pending])
    raw_csv.with_suffix(".json").write_text(json.dumps(meta, indent=2))
