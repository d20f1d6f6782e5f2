"""The lab is a package: installed (not editable) into a fresh environment, it starts a stack
from a folder outside the repository, templates and all.

The fresh environment gets the project as a wheel built from pyproject.toml (every package and
its data must be listed there), and its dependencies from this environment's site-packages
through a path file (only the build backend is fetched, as pip fetches it for any install).
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import textwrap
from pathlib import Path

from lab_stack.redis_server import SERVER_NAMES, find_redis_server

ROOT = Path(__file__).resolve().parents[1]


def path_with_redis_only_in(folder: Path) -> str:
    """This PATH, but with the Redis server the lab would use found only in `folder`, a folder
    of its own outside /usr/bin, as Homebrew's /opt/homebrew/bin or a user's ~/.local/bin."""
    folder.mkdir()
    server = find_redis_server()
    (folder / "redis-server").symlink_to(server.path)
    kept = [
        d
        for d in os.environ["PATH"].split(os.pathsep)
        if d and not any((Path(d) / name).exists() for name in SERVER_NAMES)
    ]
    return os.pathsep.join([str(folder), *kept])


SCRIPT = textwrap.dedent(
    """
    import json, time
    import requests
    import sync_app
    from lab_settings import Settings
    from lab_stack.redis_server import find_redis_server
    from lab_stack.stack import open_stack, with_free_ports
    from loadtests.load.journey import contact_fields, csrf_token_from

    settings = with_free_ports(Settings().replace(provider_delay_s=0.0, rate_limit_s=0.0))
    with open_stack("sync", settings) as stack:
        session = requests.Session()
        home = session.get(stack.url + "/", timeout=10)
        token = csrf_token_from(session.get(stack.url + "/contact", timeout=10).text)
        post = session.post(stack.url + "/contact", data={**contact_fields(1, 1),
                            "csrf_token": token}, allow_redirects=False, timeout=10)
        deadline = time.time() + 10
        while not stack.provider.deliveries() and time.time() < deadline:
            time.sleep(0.2)
        print(json.dumps({
            "app_from": sync_app.__file__,
            "run_dir": str(stack.run_dir),
            "home": home.status_code,
            "bakery": "Country sourdough" in home.text,
            "post": post.status_code,
            "delivered": len(stack.provider.deliveries()),
            "redis_server": find_redis_server().path,
        }))
    """
)


def test_an_installed_lab_starts_a_stack_outside_the_repository(tmp_path: Path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    # Build the wheel as any installer would (pip's isolated build environment, with the build
    # backend pyproject.toml asks for), then install it there without its dependencies.
    # From a clean copy: setuptools reuses a source tree's build/ folder, which would hide a
    # package missing from pyproject.toml.
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".*", "build", "var", "results", "notebooks", "*.egg-info", "__pycache__"
        ),
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--wheel-dir",
            str(tmp_path / "dist"),
            str(source),
        ],
        check=True,
        cwd=tmp_path,
    )
    (wheel,) = (tmp_path / "dist").glob("flask_offload_lab-*.whl")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            str(wheel),
        ],
        check=True,
        cwd=tmp_path,
    )
    installed = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (installed / "lab-dependencies.pth").write_text(
        "\n".join(site.getsitepackages()) + "\n"  # dependencies only: no path file of ours runs
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    redis_folder = tmp_path / "opt-homebrew-bin"

    run = subprocess.run(
        [python, "-c", SCRIPT],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": path_with_redis_only_in(redis_folder), "HOME": str(tmp_path)},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    found = json.loads(run.stdout.strip().splitlines()[-1])

    assert Path(found["app_from"]).is_relative_to(installed)  # not the repository's copy
    assert Path(found["run_dir"]).is_relative_to(elsewhere)  # its data beside its user
    assert Path(found["redis_server"]).parent == redis_folder
    assert (found["home"], found["bakery"], found["post"], found["delivered"]) == (
        200,
        True,
        302,
        1,
    )


def test_another_python_gets_a_venv_of_its_own():
    """`make test PYTHON=python3.X` must not reuse a .venv another interpreter built."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"

    planned = subprocess.run(
        ["make", "--dry-run", "--always-make", "setup", f"PYTHON={sys.executable}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert planned.returncode == 0, planned.stderr
    assert f"-m venv .venv-{version}\n" in planned.stdout
    assert "-m venv .venv\n" not in planned.stdout
