"""The class notebooks run against the committed results, and are stored with their figures."""

from __future__ import annotations

import nbformat
import pytest

from loadtests.publishing.notebooks import NOTEBOOKS_DIR, execute, images, notebooks

EXPECTED = [
    "01-the-80ms-vs-8s-argument.ipynb",
    "02-why-it-is-a-queue.ipynb",
    "03-what-celery-costs.ipynb",
    "04-async-await.ipynb",
]


def test_the_four_notebooks_are_there():
    assert [p.name for p in notebooks()] == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_runs_without_error_from_the_committed_results(name):
    ran = execute(NOTEBOOKS_DIR / name)  # raises CellExecutionError on the first failing cell
    stored = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)

    assert images(ran) >= 2
    # What readers see on GitHub: the stored outputs hold the same figures a fresh run draws,
    # and every code cell has been run.
    assert images(stored) == images(ran)
    assert all(c.execution_count for c in stored.cells if c.cell_type == "code")
    assert all(o.get("output_type") != "error" for c in stored.cells for o in c.get("outputs", []))
