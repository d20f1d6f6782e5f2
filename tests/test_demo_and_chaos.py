"""`make demo` (a stack plus Locust's web UI) and `make chaos` (faults with accounting)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pandas as pd
import pytest

from lab_stack.processes import free_port
from lab_stack.stack import PROJECT_ROOT, http_ok
from tests.conftest import settings_for_tests
from tests.test_stack import all_gone, process_tree


def test_demo_serves_the_site_and_locusts_ui_and_stops_everything_on_ctrl_c():
    settings = settings_for_tests()
    locust_port = free_port()
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "loadtests.runners.demo",
            "--app",
            "sync",
            "--locust-port",
            str(locust_port),
        ],
        cwd=PROJECT_ROOT,
        env={**os.environ, **settings.to_env()},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    locust_ui = f"http://127.0.0.1:{locust_port}/"
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(demo.stdout), daemon=True)
    reader.start()
    try:
        # Press Ctrl-C only once the demo says it is up, as an instructor would.
        deadline = time.monotonic() + 90
        while not any("Ctrl-C stops everything" in line for line in lines):
            assert demo.poll() is None and time.monotonic() < deadline, "".join(lines)
            time.sleep(0.2)
        site_up = http_ok(f"{settings.web_url}/")
        ui_up = http_ok(locust_ui)
        children = process_tree(demo.pid)[1:]

        demo.send_signal(signal.SIGINT)
        demo.wait(timeout=90)
        reader.join(timeout=10)
        output = "".join(lines)

        assert site_up and ui_up, output
        assert f"Locust    {locust_ui}" in output
        assert "demo stopped." in output and demo.returncode == 0
        assert len(children) >= 4  # provider, gunicorn master + worker, Locust
        assert all_gone(children)
    finally:
        if demo.poll() is None:  # the test failed: leave no process behind all the same
            for process in process_tree(demo.pid):
                process.kill()
            demo.wait(timeout=10)


@pytest.mark.bench(queue=False)  # counts emails: no worker to itself
def test_chaos_loses_no_accepted_email_when_the_worker_or_the_web_server_dies(tmp_path):
    out = tmp_path / "chaos.csv"
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "loadtests.runners.chaos",
            "--only",
            "worker-killed",
            "web-killed",
            "--apps",
            "sync",
            "asyncio",
            "celery",
            "--out",
            str(out),
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout[-2000:] + finished.stderr[-2000:]
    table = pd.read_csv(out).set_index(["scenario", "app"])

    assert set(table.index) == {
        ("worker-killed", "celery"),
        ("web-killed", "sync"),
        ("web-killed", "asyncio"),
        ("web-killed", "celery"),
    }
    assert (table["accepted"] > 0).all()
    assert (table["lost"] == 0).all(), table.to_string()
    # The killed worker had emails mid-SMTP; the restarted one delivered them all the same.
    worker = table.loc[("worker-killed", "celery")]
    assert worker["delivered"] >= worker["accepted"]
    # Each fault landed while an email was mid-SMTP. The async app had every waiting visitor's
    # email in flight: they died with the process.
    assert (table["in_flight_at_fault"] >= 1).all(), table.to_string()
    assert table.loc[("web-killed", "asyncio"), "dropped_mid_smtp"] >= 1
    assert (out.with_suffix(".json")).exists()
