"""The class notebook's model to play with: the setting reaches the simulation, and in a real
Jupyter Lab, in a real Chromium, moving a slider redraws the figure."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import matplotlib
import psutil
import pytest
import requests

from lab_stack.processes import free_port
from loadtests.analysis.model import md1_wait_s
from loadtests.analysis.plots import fmt_ms
from loadtests.publishing import playground
from loadtests.publishing.class_data import class_data
from loadtests.publishing.notebooks import CLASS_NOTEBOOK, student_copy
from tests.conftest import shot

matplotlib.use("Agg")


def test_a_queue_per_worker_keeps_probes_waiting_where_one_shared_queue_does_not():
    """Twelve visitors on four workers of four threads: sixteen slots, never all busy. One
    shared queue always has a free slot for a probe; a queue per worker sometimes sends the
    probe to a worker whose threads are all held by POSTs."""
    common = {"visitors": 12, "workers": 4, "threads": 4, "delay_s": 2.0}
    shared = playground.run(playground.Setting(**common, queue="shared"))
    per_worker = playground.run(playground.Setting(**common, queue="per worker"))

    assert shared.probes.share_over_100ms == 0
    assert per_worker.probes.share_over_100ms > 0.02
    assert {r[0] for r in per_worker.served} == set(range(16))


def test_the_laws_set_the_windows_mean_beside_the_steady_states_near_the_cliff():
    """At rho 0.9 a short window's mean is not the steady state's: the laws give both, and
    the steady state's is the one nearer M/D/1's (the rest of the gap is the journey's)."""
    text = playground.laws(
        playground.run(playground.Setting(load="open", rho=0.9, delay_s=0.5, seconds=150.0))
    )
    line = next(line for line in text.splitlines() if "M/D/1" in line)
    found = re.search(
        r"\): ([\d.]+) s, against the simulated probe's mean ([\d.]+) s in the steady state "
        r"\(over \d+ s\) and ([\d.]+) s in this 150 s window",
        line,
    )
    assert found, line
    md1, steady, window = (float(x) for x in found.groups())
    assert window < steady < md1


def test_the_laws_beside_the_model_agree_with_its_simulation():
    outcome = playground.run(playground.Setting(visitors=10, delay_s=2.0, think_s=1.0))
    text = playground.laws(outcome)

    # Saturated: one POST after another, so the slot is busy the whole window, and the closed
    # loop's R = N / X - Z is the journey the simulation timed, within a few percent.
    assert "the slots were busy 100%" in text
    law, simulated = (float(x) for x in _between(text, "R = N / X - Z: ", " s per journey"))
    assert simulated == pytest.approx(law, rel=0.05)


def _between(text: str, start: str, end: str) -> tuple[str, str]:
    line = next(line for line in text.splitlines() if start in line)
    law = line.split(end)[0].rsplit("= ", 1)[1]
    simulated = line.split("simulated ")[1].split(" s")[0]
    return law, simulated


def test_the_class_slider_starts_at_prediction_1s_window_and_holds_what_it_hides(monkeypatch):
    """The in-class widget shows the rho slider alone; everything else, the measured window
    among it, stays at prediction 1's run, as the notebook says."""
    data = class_data()
    setting = data.playground_setting(0.9)
    drawn = []
    monkeypatch.setattr(playground, "show", lambda **choices: drawn.append(choices))
    widget = playground.explore(setting, sliders=("rho",), with_laws=False)

    sliders = [c.description for c in widget.children[0].children[0].children]
    assert sliders == ["rho (open)"] and not widget.children[0].children[1].children
    assert drawn[0]["seconds"] == data.at("sync", 0.9)["window_s"] == setting.seconds
    assert drawn[0]["load"] == "open" and drawn[0]["rho"] == 0.9
    assert drawn[0]["with_laws"] is False


def test_the_models_laws_give_the_md1_of_the_rho_they_state():
    """The model's laws at prediction 1's conditions print M/D/1 for the slider's rho, which they
    state; prediction 1's reveal gives M/D/1 at the rho the runs carried and states that rho
    (checked against the files in `test_class_notebook.py`), so neither borrows the other's."""
    data = class_data()
    setting = data.playground_setting(0.9)
    laws = playground.laws(playground.run(setting))
    md1 = md1_wait_s(setting.rho / setting.delay_s, setting.delay_s)
    assert f"(2 (1 - rho)): {fmt_ms(md1 * 1000)}," in laws, laws
    assert f"rho = rate x delay / slots = {setting.rho:.2f}." in laws, laws


def test_in_class_the_median_grows_more_than_the_p95_as_rho_rises():
    """The class's one question (from rho 0.5 to 1.0, which grows more, the p50 or the p95?)
    has the answer the instructor's notes give: the typical probe's wait, by far."""
    setting = class_data().playground_setting(0.9)
    low = playground.run(replace(setting, rho=0.5)).probes
    high = playground.run(replace(setting, rho=1.0)).probes
    assert high.p50_s / low.p50_s > 3 * (high.p95_s / low.p95_s)
    assert low.p95_s > 5 * low.p50_s  # at rho 0.5 the unlucky probe already waits far longer


def test_open_arrivals_past_capacity_say_the_queue_grows():
    text = playground.laws(playground.run(playground.Setting(load="open", rho=1.2, delay_s=0.5)))
    assert "grows without end" in text and "M/D/1" not in text


@pytest.fixture
def jupyter_lab(tmp_path: Path) -> Iterator[str]:
    """A Jupyter Lab serving the class notebook's student copy from a folder of its own (its
    settings, runtime files and checkpoints too), stopped with every kernel it started. Its
    kernels run as the instructor's (`LAB_INSTRUCTOR=1`): the model is shown without waiting
    for prediction 1."""
    notebook = student_copy(CLASS_NOTEBOOK, tmp_path / "class")
    port, token = free_port(), "lab-test-token"
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
        "LAB_INSTRUCTOR": "1",
    }
    log = (tmp_path / "jupyter.log").open("wb")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",  # CI runs as root; Jupyter refuses that unless told
            f"--ServerApp.port={port}",
            "--ServerApp.ip=127.0.0.1",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={notebook.parent}",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, (tmp_path / "jupyter.log").read_text()
            try:
                if requests.get(f"{url}/api/status?token={token}", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "Jupyter Lab did not answer within 90 s"
            time.sleep(0.3)
        yield f"{url}/lab/tree/{notebook.name}?token={token}"
    finally:
        try:
            kernels = psutil.Process(server.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            kernels = []
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        for child in kernels:
            if child.is_running():
                child.kill()
        log.close()


def run_all(page, attempts: int = 4) -> None:
    """Run > Run All Cells, as a person would. Jupyter Lab can show the page before its kernel
    session is up: then Run All asks which kernel to start (accept the notebook's own) or runs
    nothing. So: wait for the kernel to say it is idle, then, until a cell has run, answer the
    dialog or try again. Any cell's prompt counts: Run All scrolls to the last cell, and Jupyter
    Lab does not draw the cells scrolled out of view, the first among them."""
    status = page.locator(".jp-StatusBar-Widget", has_text="Idle")
    deadline = time.monotonic() + 60
    while not status.count() and time.monotonic() < deadline:
        time.sleep(0.2)
    for _ in range(attempts):
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if page.locator(".jp-InputPrompt", has_text=re.compile(r"\[\d+\]:")).count():
                return
            dialog = page.locator(".jp-Dialog", has_text="Select Kernel")
            if dialog.count():
                dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
            time.sleep(0.2)
    raise AssertionError(f"no cell ran after {attempts} x Run All Cells")


@pytest.mark.browser
def test_moving_a_slider_in_jupyter_lab_redraws_the_model(browser, jupyter_lab):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        page.goto(jupyter_lab)
        page.wait_for_selector(".jp-Notebook", timeout=60_000)
        run_all(page)

        rho = page.locator(
            ".widget-slider", has_text="rho (open)"
        ).first  # the class's, above the homework's
        figure = page.locator(".widget-output img").first
        figure.wait_for(timeout=120_000)
        figure.scroll_into_view_if_needed()
        before = figure.get_attribute("src")
        # The model starts at prediction 1's conditions: open arrivals at rho 0.9.
        assert rho.locator(".widget-readout").inner_text().strip() == "0.90"

        handle = rho.locator(".noUi-handle").first
        handle.focus()
        for _ in range(2):
            handle.press("ArrowRight")
        # The slider redraws once let go; wait for rho 1.0, past capacity in the line above
        # the figure (the class's widget shows no laws: they are the homework's).
        setting = playground.Setting(load="open", rho=1.0, delay_s=0.5)
        arrivals = f"rho 1.00 ({setting.rate:.2f} visitors/s)"
        deadline = time.monotonic() + 60
        while arrivals not in (said := page.locator(".widget-output").first.inner_text()):
            assert time.monotonic() < deadline, f"no redraw for rho 1.0 in 60 s: {said}"
            time.sleep(0.2)

        assert "grows without end" in said and "p95" in said
        assert "Little's law" not in said
        assert rho.locator(".widget-readout").inner_text().strip() == "1.00"
        # The line above the figure is drawn a moment before the figure: wait for that too.
        while page.locator(".widget-output img").first.get_attribute("src") == before:
            assert time.monotonic() < deadline, "the line above the figure, but no new figure"
            time.sleep(0.2)
    except Exception as failure:
        shot(page, "class-model-failed")  # what Jupyter Lab showed, for whoever reads the failure
        prompts = page.locator(".jp-InputPrompt").all_inner_texts()
        errors = page.locator(".jp-RenderedText[data-mime-type*='stderr']").all_inner_texts()
        raise AssertionError(f"prompts {prompts}; errors {errors}") from failure
    else:
        shot(page, "class-model-after-slider")
    finally:
        context.close()
