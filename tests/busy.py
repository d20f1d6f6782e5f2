"""`make test-busy`: run a command (the test suite) beside a process that keeps one core busy,
as a student's laptop with a browser open would; the hog is stopped by its pid however the
command ends.

    python -m tests.busy .venv/bin/pytest tests/test_apps.py
"""

from __future__ import annotations

import os
import subprocess
import sys

HOG = "while True: pass"
BESIDE_HOG = "LAB_BESIDE_CPU_HOG"  # set to 1 for the command: the suite's budget is larger


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m tests.busy COMMAND [ARGS...]", file=sys.stderr)
        return 2
    hog = subprocess.Popen([sys.executable, "-c", HOG])
    try:
        return subprocess.run(argv, env={**os.environ, BESIDE_HOG: "1"}, check=False).returncode
    finally:
        hog.kill()
        hog.wait()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
