"""Run the class notebooks against the committed results, and keep their outputs.

    python -m loadtests.publishing.notebooks          # run every notebook in place, outputs saved
    python -m loadtests.publishing.notebooks --check  # execute copies; fail on any error
    python -m loadtests.publishing.notebooks --student DIR  # the class, no outputs or notes
    python -m loadtests.publishing.notebooks 00-one-class.ipynb  # only the notebooks named

The class notebook is stored as a student who has predicted nothing sees it: every reveal
locked (`LAB_INSTRUCTOR` is ignored here, so an instructor's shell cannot store the answers).

The notebooks read `results/` only: they never start a server, so each runs in seconds.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from lab_stack.stack import PROJECT_ROOT

NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
CLASS_NOTEBOOK = NOTEBOOKS_DIR / "00-one-class.ipynb"
TIMEOUT_S = 120


def notebooks() -> list[Path]:
    return sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]-*.ipynb"))


def execute(path: Path) -> nbformat.NotebookNode:
    """Run every cell top to bottom in a fresh kernel; raises on the first cell that fails."""
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook,
        timeout=TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS_DIR)}},
    ).execute()
    return notebook


WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def images(notebook: nbformat.NotebookNode) -> int:
    """How many figures the notebook's stored outputs hold, those a widget shows included."""
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    widgets = notebook.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    outputs += [o for w in widgets.values() for o in w.get("state", {}).get("outputs", [])]
    return sum("image/png" in output.get("data", {}) for output in outputs)


INSTRUCTOR_TAG = "instructor"  # a cell for the instructor only: the student copy leaves it out


def student_copy(path: Path, out_dir: Path) -> Path:
    """`path` without its outputs and without the instructor's cells: what the class sees
    before any reveal has run, with nothing that says how to see the answers."""
    notebook = nbformat.read(path, as_version=4)
    notebook.cells = [c for c in notebook.cells if INSTRUCTOR_TAG not in c.metadata.get("tags", [])]
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    notebook.metadata.pop("widgets", None)
    out_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, out_dir / path.name)
    return out_dir / path.name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.publishing.notebooks", description=__doc__
    )
    parser.add_argument("--check", action="store_true", help="run copies, do not save outputs")
    parser.add_argument("--student", type=Path, metavar="DIR", help="write the student copy")
    parser.add_argument("names", nargs="*", help="notebooks to run (default: every one)")
    args = parser.parse_args(argv)
    if args.student:
        print(f"wrote {student_copy(CLASS_NOTEBOOK, args.student)} (no outputs)")
        return 0
    os.environ.pop("LAB_INSTRUCTOR", None)
    for path in [p for p in notebooks() if not args.names or p.name in args.names]:
        started = time.perf_counter()
        notebook = execute(path)
        if not args.check:
            nbformat.write(notebook, path)
        print(
            f"{path.name}: ran in {time.perf_counter() - started:.1f} s, {images(notebook)} figures"
            + ("" if args.check else ", outputs saved")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
