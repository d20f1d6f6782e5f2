"""`make bench`'s command line: the plan it asks for (`loadtests.analysis.bench_plan.Plan`), and
whether it only asks to redraw."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from lab_hand_offs import KINDS, names
from loadtests.analysis.bench_plan import QUICK, Plan
from loadtests.analysis.results import RESULTS_DIR
from loadtests.load.cli import runner_parser


def celery_worker(text: str) -> tuple[str, int]:
    """`16` -> ("prefork", 16); `threads:64` -> ("threads", 64)."""
    pool, _, n = text.rpartition(":")
    if pool not in ("", "prefork", "threads", "gevent") or not n.isdigit() or int(n) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give N or prefork|threads|gevent:N")
    return (pool or "prefork", int(n))


def parse_args(argv: list[str] | None, description: str) -> tuple[Plan, bool]:
    """The plan the command line asks for, and whether it only asks to --replot."""
    parser = runner_parser("loadtests.runners.bench", description)
    d = Plan()
    add = parser.add_argument
    add("--quick", action="store_true", help="short delay, 4 visitors, short runs, results/quick/")
    add(
        "--reference",
        action="store_true",
        help="the committed reference run: --repeats 3 --second-generator, into results/ and the "
        "README",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--apps", nargs="+", choices=names(), help=f"default: the apps, {' '.join(names('app'))}"
    )
    which.add_argument("--kind", choices=KINDS, help="every registered hand-off of this kind")
    add("--visitors", nargs="+", type=int, help=f"sustained scenario (default {d.visitors})")
    add("--burst", nargs="*", type=int, help=f"burst scenario visitors (default {d.burst})")
    add("--delay", type=float, dest="delay_s", help=f"provider delay, s (default {d.delay_s})")
    add("--web-workers", nargs="+", type=int, help="gunicorn workers; several sweep them")
    add("--web-threads", nargs="+", type=int, help="threads per worker; several sweep them")
    add(
        "--celery-workers",
        nargs="+",
        type=celery_worker,
        help="the email worker's pools, each N (N prefork processes) or POOL:N, POOL one of "
        "prefork, threads, gevent; several sweep them (default 4)",
    )
    add("--think", type=float, dest="think_s", help=f"visitor think time, s (default {d.think_s})")
    add("--probe-rate", type=float, help=f"homepage probes per second (default {d.probe_rate})")
    add("--window-scale", type=float, help="multiply every sustained window by this")
    add("--repeats", type=int, help=f"runs of each point at {d.repeat_visitors} visitors")
    add(
        "--second-generator",
        action="store_true",
        default=None,
        help="also run those points with the threads generator (not Locust)",
    )
    add("--out", type=Path, help="results folder (default results/local/)")
    add(
        "--replot",
        action="store_true",
        help="measure nothing: redraw the plots and the report of --out (or of --reference)",
    )
    args = parser.parse_args(argv)
    changes: dict[str, object] = dict(QUICK) if args.quick else {}
    if args.reference:
        changes.update(repeats=3, second_generator=True, out=RESULTS_DIR)
    if args.kind:
        changes["apps"] = names(args.kind)
    for key, value in vars(args).items():
        if key in ("quick", "reference", "replot", "kind") or value is None:
            continue
        changes[key] = tuple(value) if isinstance(value, list) else value
    if "out" in changes:
        changes["out"] = Path(changes["out"]).resolve()
    return replace(Plan(), **changes), args.replot
