"""`make bench`: the three apps under identical web-tier limits, in two scenarios, then the claims.

For each point: start a fresh stack (Redis, slow provider, gunicorn, Celery worker), warm it up,
run the load (Locust, or the threads generator for a second opinion), wait (bounded) until every
accepted email has reached the provider, stop the stack. The sustained scenario measures a
steady load (the headline); the burst scenario the article's "10 visitors press send at once".
`loadtests/analysis/bench_plan.py` says what runs and for how long.

    python -m loadtests.runners.bench                  # the sweep, about 9 minutes
    python -m loadtests.runners.bench --reference      # + repeats and the second generator
    python -m loadtests.runners.bench --quick          # under a minute, into results/quick/
    python -m loadtests.runners.bench --apps sync --web-workers 1 4 --out results/web-tier
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import replace

import matplotlib
import pandas as pd
from tqdm import tqdm

from lab_hand_offs import hand_off
from lab_settings import Settings
from lab_stack.stack import Stack, open_stack
from loadtests.analysis import burst as burst_analysis
from loadtests.analysis.bench_plan import Plan
from loadtests.analysis.model import predict
from loadtests.analysis.plots import fmt_ms
from loadtests.analysis.queue_view import service_times
from loadtests.analysis.results import Point, deliveries_frame, message_ref, requests_frame
from loadtests.analysis.summary import accepted_refs, summarise_point
from loadtests.load.cli import exit_status, until_interrupted
from loadtests.load.drive import (
    BacklogSampler,
    Load,
    bench_settings,
    generate,
    memory_mb,
    memory_measure,
    wait_for_emails,
    warm_up,
)
from loadtests.publishing import bench_report
from loadtests.runners.bench_options import parse_args


def sustained_load(plan: Plan, point: Point) -> Load:
    """What a sustained point's generator runs: the probe, and the visitors if any."""
    ramp, warmup, window = plan.timing(point)
    users = ("HomepageProbe", "Visitor") if point.visitors else ("HomepageProbe",)
    return Load(
        users=users,
        count=point.visitors + 1,
        think_s=plan.think_s,
        probe_rate=plan.probe_rate,
        warmup_s=warmup,
        window_s=window,
        ramp_s=ramp,
        drain_max_s=plan.drain_max_s,
    )


def burst_load(plan: Plan, point: Point) -> Load:
    """What a burst point's generator runs: the probe, and the visitors who send at once."""
    drain = plan.burst_drain_s(point)
    return Load(
        users=("HomepageProbe", "BurstVisitor"),
        count=point.visitors + 1,
        think_s=plan.think_s,
        probe_rate=plan.probe_rate,
        warmup_s=1.0,
        window_s=1.5 * drain + point.smtp_delay_s + 10,
        ramp_s=0.0,
        drain_max_s=plan.drain_max_s,
        burst=point.visitors,
    )


def stack_for(base: Settings, point: Point) -> Stack:
    return open_stack(
        point.app,
        bench_settings(
            base,
            provider_delay_s=point.smtp_delay_s,
            web_workers=point.web_workers,
            web_threads=point.web_threads,
            celery_concurrency=point.celery_concurrency,
            celery_pool=point.celery_pool,
        ),
    )


def measure(
    base: Settings, plan: Plan, point: Point, *, burst: bool, announce: Callable[[float], None]
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, object], float]:
    """Run one point; store its raw data; return its requests, deliveries, window metadata and
    the idle homepage time (s) measured while warming up."""
    name = f"burst-{point.name}" if burst else point.name
    load = burst_load(plan, point) if burst else sustained_load(plan, point)
    with stack_for(base, point) as stack:
        # In the stack's own folder, beside its logs: two runs at once never write one file.
        raw_csv, log = stack.run_dir / f"{name}.csv", stack.run_dir / f"{name}.log"
        idle_s = warm_up(stack.url)
        announce(idle_s)
        sampler = None
        if hand_off(point.app).has_queue:
            sampler = BacklogSampler(stack.settings.effective_redis_url)
            sampler.start()
        try:
            meta = generate(point.generator, stack.url, load, raw_csv, log)
            # The email worker's memory (its pool included) with the load still on it.
            meta["worker_memory_mb"] = memory_mb(stack).get("worker", float("nan"))
        finally:
            backlog = sampler.stop() if sampler else None
        requests = requests_frame(raw_csv, meta, point)
        if burst:
            requests["sent_after_s"] = requests["start"] - float(meta["burst_at"])
        bound_at = wait_for_emails(stack, accepted_refs(requests), plan.email_wait_s, message_ref)
        deliveries = deliveries_frame(stack.provider.deliveries(), meta, point)
    shutil.rmtree(stack.run_dir, ignore_errors=True)  # kept only when the point failed
    meta["emails_bound_at"] = bound_at
    raw = plan.out / "raw" / name
    requests.to_csv(f"{raw}.requests.csv.gz", index=False)
    deliveries.to_csv(f"{raw}.deliveries.csv.gz", index=False)
    if backlog is not None:
        backlog["t_s"] = backlog["time"] - meta["window_start"]
        for key, value in reversed(point.labels().items()):
            backlog.insert(0, key, value)
        backlog.to_csv(f"{raw}.backlog.csv.gz", index=False)
    return requests, deliveries, meta, idle_s


def run_sustained(
    base: Settings, plan: Plan, point: Point, say: Callable[[str], None]
) -> tuple[list[dict[str, object]], dict[str, object]]:
    """One sustained point: its summary rows and (for the blocking app) its model row."""
    _ramp, warmup, window = plan.timing(point)
    model: dict[str, object] = {}

    def announce(idle_s: float) -> None:
        text = f"{point.app} {point.visitors} visitors ({point.generator}"
        text += f", repeat {point.repeat})" if point.repeat > 1 else ")"
        text += f": warm-up {warmup:.0f} s, window {window:.0f} s"
        if hand_off(point.app).blocking and point.visitors:
            scenario = plan.scenario(point, service_s=idle_s)
            prediction = predict(scenario)
            model.update(
                point.labels(),
                service_ms=idle_s * 1000,
                window_s=window,
                p50_ms=prediction.p50_s * 1000,
                p95_ms=prediction.p95_s * 1000,
                article_ms=prediction.article_s * 1000,
            )
            text += f"; the model predicts homepage p50 {fmt_ms(model['p50_ms'])}"
        say(text + " ...")

    requests, deliveries, meta, _idle = measure(base, plan, point, burst=False, announce=announce)
    if model and point.web_workers * point.web_threads == 1:
        model.update(replay_with_measured_service(plan, point, requests))
    valid = not meta["cpu_warnings"]
    rows = summarise_point(point, requests, deliveries, window, valid, meta["emails_bound_at"])
    for row in rows:
        row["worker_memory_mb"] = meta["worker_memory_mb"]
        row["memory_measure"] = memory_measure()
    say("    " + bench_report.point_line(rows, model.get("p50_ms")))
    return rows, model


def replay_with_measured_service(plan: Plan, point: Point, requests: pd.DataFrame) -> dict:
    """The model again, fed what the one worker actually spent on each request in this run
    (rebuilt from the raw requests, first come first served) instead of the provider's delay
    and the idle page time: on a busy machine every request costs more, and the queue they
    form is what the model is there to check."""
    post_s, cheap_s = service_times(requests)
    scenario = replace(plan.scenario(point, service_s=cheap_s), delay_s=max(0.0, post_s - cheap_s))
    prediction = predict(scenario)
    return {
        "service_ms": cheap_s * 1000,
        "post_service_ms": post_s * 1000,
        "p50_ms": prediction.p50_s * 1000,
        "p95_ms": prediction.p95_s * 1000,
    }


def run_burst(
    base: Settings, plan: Plan, point: Point, say: Callable[[str], None]
) -> dict[str, object]:
    def announce(idle_s: float) -> None:
        say(
            f"burst: {point.visitors} visitors press send at once on {point.app}; predicted: the "
            f"last POST answered after {plan.burst_drain_s(point):.1f} s ..."
        )

    requests, _deliveries, meta, idle_s = measure(base, plan, point, burst=True, announce=announce)
    row = burst_analysis.summarise(point, requests, meta, idle_s, plan.burst_drain_s(point))
    say("    " + bench_report.burst_line(row))
    return row


def run(plan: Plan, base: Settings) -> int:
    started = time.time()
    if plan.out.exists():
        shutil.rmtree(plan.out / "raw", ignore_errors=True)
        bench_report.clear_figures(plan.out)
    (plan.out / "raw").mkdir(parents=True, exist_ok=True)
    sustained, bursts = plan.sustained_points(), plan.burst_points()
    print(bench_report.plan_line(plan, len(sustained), len(bursts)))
    summary_rows: list[dict[str, object]] = []
    model_rows: list[dict[str, object]] = []
    burst_rows: list[dict[str, object]] = []
    estimates = [plan.estimate_s(p) for p in sustained]
    estimates += [plan.estimate_s(p, burst=True) for p in bursts]
    bar_format = "{l_bar}{bar}| {elapsed} elapsed, about {remaining} to go"
    with tqdm(
        total=round(sum(estimates)), bar_format=bar_format, dynamic_ncols=True, disable=None
    ) as bar:
        for point, estimate in zip(sustained, estimates, strict=False):
            bar.set_description(f"sustained {point.app} {point.visitors}")
            rows, model = run_sustained(base, plan, point, bar.write)
            summary_rows.extend(rows)
            if model:
                model_rows.append(model)
            bar.update(round(estimate))
        for point, estimate in zip(bursts, estimates[len(sustained) :], strict=True):
            bar.set_description(f"burst {point.app} {point.visitors}")
            burst_rows.append(run_burst(base, plan, point, bar.write))
            bar.update(round(estimate))
    wall = time.time() - started
    bench_report.write_results(
        plan,
        settings=base,
        started=started,
        wall_s=wall,
        summary_rows=summary_rows,
        model_rows=model_rows,
        burst_rows=burst_rows,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    plan, only_replot = parse_args(argv, __doc__)
    matplotlib.use("Agg")  # figures go to files; never open a window on a student's desktop
    if only_replot:
        return bench_report.replot(plan.out)
    return until_interrupted(lambda: run(plan, Settings.from_env()))


if __name__ == "__main__":
    raise SystemExit(exit_status(main))
