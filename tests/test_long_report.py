"""The long report's two kinds of work: waiting for something elsewhere, or computing here."""

from __future__ import annotations

import asyncio
import time

import pytest

from lab_settings import Settings
from long_report import STEPS, ReportBuilder, generate_async


def _settings(tmp_path, work: str) -> Settings:
    return Settings().replace(
        report_duration_s=0.4, report_work=work, accounts_db=str(tmp_path / "accounts.sqlite3")
    )


async def _loop_gaps(settings: Settings) -> tuple[str, float]:
    """Build the report in the event loop beside a coroutine that wakes every millisecond; the
    longest the loop left it waiting."""
    gaps, done = [], asyncio.Event()

    async def ticker() -> None:
        last = started
        while True:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now
            if done.is_set():
                return

    started = time.perf_counter()

    ticking = asyncio.create_task(ticker())
    text = await generate_async(settings)
    done.set()
    await ticking
    return text, max(gaps)


def test_a_computing_report_holds_the_event_loop_for_each_slice(tmp_path):
    """Nothing to await: while a slice computes, no other coroutine runs. The slice spends its
    length in CPU time, so the loop's longest pause is at least that long, however busy the
    machine (CPU time never runs ahead of the clock)."""
    settings = _settings(tmp_path, "compute")
    text, longest = asyncio.run(_loop_gaps(settings))

    assert text.startswith("email,last_login_utc,idle_days")
    assert longest >= settings.report_duration_s / STEPS


def test_a_waiting_report_spends_its_slices_off_the_cpu(tmp_path):
    builder = ReportBuilder(_settings(tmp_path, "wait"))
    cpu = time.thread_time()
    builder.work()
    assert time.thread_time() - cpu < builder.slice_s / 2


def test_the_report_work_setting_takes_only_its_two_kinds():
    with pytest.raises(ValueError, match="REPORT_WORK"):
        Settings().replace(report_work="sleep")
