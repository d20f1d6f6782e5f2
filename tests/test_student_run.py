"""A student's `make bench` goes beside the committed reference, and is judged on its shape."""

from __future__ import annotations

import pandas as pd
import pytest

from loadtests.analysis.results import LOCAL_DIR, RESULTS_DIR, load_summary, run_dir
from loadtests.analysis.shape import shape
from loadtests.analysis.summary import collapse_repeats
from loadtests.publishing import compare
from loadtests.runners.bench_options import parse_args


def test_make_bench_writes_beside_the_reference_and_only_the_reference_run_replaces_it():
    plan, _ = parse_args([], "")
    reference, _ = parse_args(["--reference"], "")

    assert plan.out == LOCAL_DIR
    assert reference.out == RESULTS_DIR
    assert (reference.repeats, reference.second_generator) == (3, True)
    assert "results/local/" in (RESULTS_DIR.parent / ".gitignore").read_text()


def _summary(p50_ms: dict[str, list[float]], visitors=(0, 2, 10)) -> pd.DataFrame:
    rows = [
        {"app": app, "visitors": v, "smtp_delay_s": 2.0, "endpoint": "home", "p50_ms": ms, "n": 50}
        for app, curve in p50_ms.items()
        for v, ms in zip(visitors, curve, strict=True)
    ]
    return pd.DataFrame(rows)


def test_the_claimed_shape_is_a_climbing_sync_curve_and_flat_others_whatever_the_machine():
    # A laptop three times slower than the reference machine: same shape.
    slow = _summary({"sync": [9.0, 3000.0, 15000.0], "celery": [9.0, 11.0, 12.0]})
    assert shape(slow).as_claimed
    assert "sync: the homepage climbs, 9.0 ms idle to 15.0 s at 10 visitors" in shape(slow).text


@pytest.mark.parametrize(
    ("curves", "apart"),
    [
        ({"sync": [3.0, 1000.0, 900.0], "celery": [3.0, 3.0, 3.0]}, "sync"),  # falls at the end
        ({"sync": [3.0, 10.0, 20.0], "celery": [3.0, 3.0, 3.0]}, "sync"),  # < 10x its idle time
        ({"sync": [3.0, 1000.0, 5000.0], "celery": [3.0, 3.0, 500.0]}, "celery"),  # not flat
    ],
)
def test_a_run_of_another_shape_is_named_and_so_is_the_app(curves, apart):
    reference = _summary({"sync": [3.0, 1000.0, 5000.0], "celery": [3.0, 3.0, 3.0]})
    yours = _summary(curves)

    assert not shape(yours).as_claimed
    assert compare.verdict(yours, reference).startswith(f"Not the reference's shape ({apart})")


def test_the_reference_has_the_shape_it_claims_and_a_run_is_shown_beside_it(tmp_path):
    reference = collapse_repeats(load_summary()[lambda s: s.generator == "locust"])
    assert shape(reference).as_claimed

    # A "student's run" that is the reference with every time doubled: same shape, and the
    # terminal table shows both numbers of each point.
    runs = load_summary()
    doubled = runs.assign(p50_ms=runs["p50_ms"] * 2)
    doubled.to_csv(tmp_path / "summary.csv", index=False)
    (tmp_path / "environment.json").write_text((RESULTS_DIR / "environment.json").read_text())
    text = compare.report(tmp_path)
    sync_top = reference.query("app == 'sync' and endpoint == 'home'").p50_ms.max()

    assert "Same shape as the reference" in text
    assert f"{sync_top * 2 / 1000:.1f} s ({sync_top / 1000:.1f} s)" in text
    assert run_dir(str(tmp_path)) == tmp_path.resolve()
