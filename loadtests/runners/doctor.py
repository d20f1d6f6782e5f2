"""`make doctor`: what a class needs on this laptop, one line each, with the fix for what fails.

An instructor asks every student to run it the day before class. It starts each app's real
stack (`lab_stack`), opens its homepage and sends its contact form, and waits for the email at
the fake provider; it checks the fixed ports `make up` and `make demo` use, the optional browser
and nginx, and that Jupyter and the class notebook's imports load. Exit status 1 if anything a
class needs failed.

    python -m loadtests.runners.doctor                    # everything, under 2 minutes
    python -m loadtests.runners.doctor --only redis ports # some checks
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path

import requests

from lab_hand_offs import names
from lab_settings import Settings
from lab_stack.browser import CHROMIUM_HINT, find_chromium
from lab_stack.proxy import NginxNotFound, find_nginx
from lab_stack.redis_server import RedisNotFound, redis_in_use
from lab_stack.stack import PROJECT_ROOT, Stack, open_stack, with_free_ports
from loadtests.load.journey import contact_fields, csrf_token_from

CLASS_NOTEBOOK = PROJECT_ROOT / "notebooks" / "00-one-class.ipynb"
PORTS = (
    "web_port",
    "smtp_port",
    "provider_control_port",
    "rates_api_port",
    "push_port",
    "redis_port",
)
DEMO_LOCUST_PORT = 8089  # `make demo`'s Locust page (loadtests/runners/demo.py)
EMAIL_WAIT_S = 10.0
CHECK_DELAY_S = 0.2  # the provider's delay for the check: the email's arrival, not its wait


@dataclass(frozen=True)
class Line:
    status: str  # "ok", "FAIL", or "note" (optional, missing: the class does not need it)
    text: str
    fix: str = ""

    def __str__(self) -> str:
        return f"{self.status:<5} {self.text}" + (f"\n      fix: {self.fix}" if self.fix else "")


def python_and_venv() -> Iterator[Line]:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.prefix == sys.base_prefix:
        yield Line(
            "FAIL", f"Python {version}, not in a venv", "run `make setup`, then `make doctor`"
        )
        return
    venv = Path(sys.prefix)
    size = sum(f.stat().st_size for f in venv.rglob("*") if f.is_file() and not f.is_symlink())
    where = os.path.relpath(venv, Path.cwd())
    yield Line("ok", f"Python {version} in {where} ({size / 1e6:.0f} MB on disk)")


def which_redis(settings: Settings) -> Iterator[Line]:
    try:
        yield Line("ok", f"Redis: {redis_in_use(settings)}")
    except RedisNotFound as exc:
        text = str(exc)
        yield Line("FAIL", "Redis: none found", text.split("\n\n")[1].strip())


def free_ports(settings: Settings) -> Iterator[Line]:
    """The fixed ports of `make up` and `make demo` (the checks below use free ones)."""
    env = {f.name: f.metadata["env"] for f in fields(Settings)}
    wanted = [(getattr(settings, name), env[name]) for name in PORTS]
    wanted.append((DEMO_LOCUST_PORT, "`make demo`'s Locust page"))
    taken = [(port, what) for port, what in wanted if not _port_free(settings.web_host, port)]
    if not taken:
        listed = ", ".join(str(port) for port, _ in wanted)
        yield Line("ok", f"ports {listed} on {settings.web_host} are free")
        return
    for port, what in taken:
        yield Line(
            "FAIL",
            f"port {port} ({what}) is in use by another program",
            f"stop that program (`lsof -i :{port}` names it), or set {what}=<another port>"
            if what.isupper() and what.endswith("_PORT")
            else f"stop the program on port {port} (`lsof -i :{port}` names it)",
        )


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def app_answers(app: str, base: Settings) -> Iterator[Line]:
    """The app's real stack: its homepage, its contact form, and the email at the provider."""
    settings = with_free_ports(base.replace(provider_delay_s=CHECK_DELAY_S, data_dir="var/doctor"))
    try:
        stack = open_stack(app, settings)
    except RedisNotFound:
        yield Line("FAIL", f"{app}: not started, no Redis", "install Redis (see the Redis line)")
        return
    try:
        stack.start()
    except Exception as exc:  # whatever stopped it (start() stopped the rest), say it in words
        yield Line("FAIL", f"{app}: its stack did not start: {exc}", f"read {stack.run_dir}/logs")
        return
    try:
        home_status, home_ms, sent_status, arrived_s = _visit(stack)
    except (OSError, requests.RequestException, ValueError) as exc:
        yield Line("FAIL", f"{app}: {exc}", f"read {stack.run_dir}/logs")
        return
    finally:
        stack.stop()
    if home_status != 200 or sent_status not in (302, 303) or arrived_s is None:
        email = "arrived" if arrived_s is not None else f"not at the provider in {EMAIL_WAIT_S:g} s"
        yield Line(
            "FAIL",
            f"{app}: homepage {home_status}, contact form {sent_status}, email {email}",
            f"read {stack.run_dir}/logs",
        )
        return
    shutil.rmtree(stack.run_dir, ignore_errors=True)  # kept only where a FAIL line points to it
    yield Line(
        "ok",
        f"{app}: homepage answered in {home_ms:.0f} ms, contact form {sent_status}, its "
        f"email at the fake provider {arrived_s:.1f} s after the send",
    )


def _visit(stack: Stack) -> tuple[int, float, int, float | None]:
    """A visitor's homepage and contact form: each answer's status, the homepage's time (ms),
    and when the email reached the provider (s after the send, None if it did not)."""
    began = time.perf_counter()
    home = requests.get(f"{stack.url}/", timeout=10)
    home_ms = (time.perf_counter() - began) * 1000
    session = requests.Session()
    form = session.get(f"{stack.url}/contact", timeout=10)
    data = {**contact_fields(1, 1), "csrf_token": csrf_token_from(form.text)}
    pressed = time.monotonic()
    sent = session.post(f"{stack.url}/contact", data=data, allow_redirects=False, timeout=30)
    return home.status_code, home_ms, sent.status_code, _email_arrives(stack, pressed)


def _email_arrives(stack: Stack, pressed: float) -> float | None:
    """Seconds from the press of send until the provider has the email, or None."""
    while time.monotonic() - pressed < EMAIL_WAIT_S:
        try:
            if stack.provider.deliveries():
                return time.monotonic() - pressed
        except OSError:  # its control API dropped one request on a busy machine: ask again
            pass
        time.sleep(0.25)
    return None


def chromium() -> Iterator[Line]:
    found = find_chromium()
    if found is None:
        yield Line(
            "note", "Chromium: optional, missing: the browser tests will be skipped", CHROMIUM_HINT
        )
        return
    yield Line("ok", f"Chromium: {found}")


def nginx() -> Iterator[Line]:
    try:
        yield Line("ok", f"nginx: {find_nginx()}")
    except NginxNotFound as exc:
        yield Line("note", "nginx: optional, missing: the proxy tests will be skipped", str(exc))


def jupyter_and_class_notebook() -> Iterator[Line]:
    lab = subprocess.run(
        [sys.executable, "-m", "jupyterlab", "--version"], capture_output=True, text=True
    )
    if lab.returncode != 0:
        yield Line("FAIL", "Jupyter Lab does not start", "run `make clean setup`")
        return
    yield Line("ok", f"Jupyter Lab {lab.stdout.strip()}")
    imports = notebook_imports(CLASS_NOTEBOOK)
    loaded = subprocess.run(
        [sys.executable, "-c", "\n".join(imports)],
        cwd=CLASS_NOTEBOOK.parent,
        capture_output=True,
        text=True,
    )
    name = CLASS_NOTEBOOK.relative_to(PROJECT_ROOT)
    if loaded.returncode != 0:
        last = (loaded.stderr.strip().splitlines() or ["?"])[-1]
        yield Line("FAIL", f"{name}: its imports fail: {last}", "run `make clean setup`")
        return
    yield Line("ok", f"{name}: its {len(imports)} imports load")


def notebook_imports(notebook: Path) -> list[str]:
    """The notebook's top-level import lines, in order."""
    cells = json.loads(notebook.read_text())["cells"]
    lines = [line for c in cells if c["cell_type"] == "code" for line in _source(c).splitlines()]
    return [line for line in lines if line.startswith(("import ", "from "))]


def _source(cell: dict[str, object]) -> str:
    source = cell["source"]
    return source if isinstance(source, str) else "".join(source)


CHECKS: dict[str, Callable[[Settings], Iterator[Line]]] = {
    "python": lambda _settings: python_and_venv(),
    "redis": which_redis,
    "ports": free_ports,
    **{app: (lambda settings, app=app: app_answers(app, settings)) for app in names("app")},
    "chromium": lambda _settings: chromium(),
    "nginx": lambda _settings: nginx(),
    "jupyter": lambda _settings: jupyter_and_class_notebook(),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make doctor", description=__doc__)
    parser.add_argument("--only", nargs="+", choices=list(CHECKS), help="run only these checks")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    began = time.monotonic()
    failed = checked = 0
    for name in args.only or CHECKS:
        for line in CHECKS[name](settings):
            print(line, flush=True)
            checked += 1
            failed += line.status == "FAIL"
    took = time.monotonic() - began
    if failed:
        print(
            f"\n{failed} of {checked} checks failed ({took:.0f} s): fix the FAIL lines, then "
            "run `make doctor` again."
        )
        return 1
    print(f"\nAll {checked} checks passed in {took:.0f} s: this laptop is ready for class.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
