"""`make bench`: every app x visitor count under identical web-tier limits, then the claims report.

For each point: start a fresh stack (Redis, slow provider, gunicorn, Celery worker), run one
headless Locust process with the visitor journey and the open-model homepage probe, read the
provider's delivery log, stop the stack. Then one throughput point per app with a queue (how many
contact POSTs per second one web process takes). Writes `results/` (or `--out`), prints the claims
next to the measured numbers, and regenerates the README's results section when it wrote the
reference results.

    python -m loadtests.sweep                      # the reference sweep, about 6 minutes
    python -m loadtests.sweep --quick              # a one-minute version into results/quick/
    python -m loadtests.sweep --apps sync --web-workers 1 2 4 --out results/workers
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import matplotlib
import pandas as pd
import redis
from tqdm import tqdm

from contact_form.settings import Settings
from lab_stack.processes import sigterm_like_ctrl_c
from lab_stack.stack import APPS, PROJECT_ROOT, Stack, with_free_ports
from loadtests import plots, report
from loadtests.model import Scenario, predict
from loadtests.results import (
    RESULTS_DIR,
    SUMMARY_COLUMNS,
    Point,
    deliveries_frame,
    machine_record,
    percentile,
    requests_frame,
    settings_record,
    summarise_point,
    update_readme,
)

README_START = "<!-- bench:start -->"
README_END = "<!-- bench:end -->"


@dataclass(frozen=True)
class Plan:
    """What the sweep runs. Every field is a command-line option (see `--help`)."""

    apps: tuple[str, ...] = APPS
    visitors: tuple[int, ...] = (0, 1, 2, 4, 6, 8, 10)
    delay_s: float = 2.0
    web_workers: tuple[int, ...] = (1,)
    web_threads: tuple[int, ...] = (1,)
    celery_concurrency: tuple[int, ...] = (4,)
    think_s: float = 1.0
    probe_rate: float = 5.0
    # The window opens when every visitor starts at once ("10 visitors submit the form at
    # once"); the app has answered a few warm-up requests before, so no first-request costs.
    warmup_s: float = 0.0
    spawn_s: float = 0.0
    window_s: float = 10.0
    drain_max_s: float = 60.0
    throughput: bool = True
    throughput_users: int = 8
    throughput_window_s: float = 5.0
    out: Path = RESULTS_DIR

    def points(self) -> list[Point]:
        return [
            Point(app, v, self.delay_s, w, t, c)
            for app in self.apps
            # Only the Celery app has worker processes to vary.
            for c in (self.celery_concurrency if app == "celery" else self.celery_concurrency[:1])
            for w in self.web_workers
            for t in self.web_threads
            for v in self.visitors
        ]

    def throughput_points(self) -> list[Point]:
        if not self.throughput or "celery" not in self.apps:
            return []
        return [
            Point("celery", self.throughput_users, self.delay_s, w, t, self.celery_concurrency[0])
            for w in self.web_workers
            for t in self.web_threads
        ]

    def scenario(self, point: Point, service_s: float) -> Scenario:
        return Scenario(
            visitors=point.visitors,
            delay_s=point.smtp_delay_s,
            servers=point.web_workers * point.web_threads,
            think_s=self.think_s,
            probe_rate=self.probe_rate,
            warmup_s=self.warmup_s,
            window_s=self.window_s,
            spawn_s=self.spawn_s,
            service_s=service_s,
        )


QUICK = {
    "visitors": (0, 4),
    "delay_s": 0.5,
    "window_s": 2.5,
    "probe_rate": 12.0,
    "think_s": 0.25,
    "throughput_users": 4,
    "throughput_window_s": 1.5,
    "drain_max_s": 15.0,
    "out": RESULTS_DIR / "quick",
}


# One point


class BacklogSampler(threading.Thread):
    """Samples the Celery queue (waiting + taken but unacknowledged) while a point runs."""

    def __init__(self, redis_url: str, period_s: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.client = redis.Redis.from_url(redis_url, socket_timeout=2)
        self.period_s = period_s
        self.samples: list[tuple[float, int, int]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.period_s):
            try:
                pipe = self.client.pipeline()
                pipe.llen("celery")
                pipe.hlen("unacked")
                queued, unacked = pipe.execute()
            except redis.RedisError:
                continue
            self.samples.append((time.time(), queued, unacked))

    def stop(self) -> pd.DataFrame:
        self.done.set()
        self.join()
        return pd.DataFrame(self.samples, columns=["time", "queued", "unacked"])


def run_locust(
    stack: Stack,
    plan: Plan,
    users: list[str],
    count: int,
    window_s: float,
    raw_csv: Path,
    spawn_s: float,
    log: Path,
) -> dict[str, object]:
    """One headless Locust process against the stack; returns the window's metadata."""
    env = {
        **os.environ,
        "LAB_PROBE_RATE": str(plan.probe_rate),
        "LAB_THINK_S": str(plan.think_s),
        # The floods start closed-loop users one by one: let them all get going first.
        "LAB_WARMUP_S": str(plan.warmup_s if "HomepageProbe" in users else 1.0),
        "LAB_WINDOW_S": str(window_s),
        "LAB_DRAIN_MAX_S": str(plan.drain_max_s),
        "LAB_RAW_CSV": str(raw_csv),
    }
    argv = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(PROJECT_ROOT / "loadtests" / "locustfile.py"),
        "--headless",
        "--host",
        stack.url,
        "--users",
        str(count),
        "--spawn-rate",
        str(max(count, 1) / spawn_s if spawn_s > 0 else 1000),
        "--only-summary",
        "--exit-code-on-error",
        "0",  # failed requests are data (counted in `errors`), not a crash of the run
        "--loglevel",
        "WARNING",
        *users,
    ]
    limit = plan.warmup_s + window_s + plan.drain_max_s + 60
    with log.open("w") as out:
        finished = subprocess.run(
            argv, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=limit, check=False
        )
    if finished.returncode != 0 or not raw_csv.exists():
        tail = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"Locust failed (exit {finished.returncode}); its log ends:\n{tail}")
    return json.loads(raw_csv.with_suffix(".json").read_text())


def bench_settings(base: Settings, point: Point) -> Settings:
    return with_free_ports(
        base.replace(
            provider_delay_s=point.smtp_delay_s,
            web_workers=point.web_workers,
            web_threads=point.web_threads,
            celery_concurrency=point.celery_concurrency,
            rate_limit_s=0.0,  # every Locust visitor comes from 127.0.0.1
            prices_rate_limit_s=0.0,
            report_rate_limit_s=0.0,
            data_dir="var/bench",
        )
    )


def warm_up(url: str, rounds: int = 3) -> None:
    """A few requests of each page, so templates are compiled before anything is measured."""
    for _ in range(rounds):
        for path in ("/", "/contact"):
            with urllib.request.urlopen(f"{url}{path}", timeout=10) as response:
                response.read()


def run_point(base: Settings, plan: Plan, point: Point) -> tuple[list[dict], dict[str, object]]:
    """Run one point; write its raw data; return its summary rows and its Locust metadata."""
    raw_dir = plan.out / "raw"
    scratch = PROJECT_ROOT / "var" / "bench" / "locust"
    scratch.mkdir(parents=True, exist_ok=True)
    users = ["HomepageProbe"] + (["Visitor"] if point.visitors else [])
    with Stack(point.app, bench_settings(base, point)) as stack:
        warm_up(stack.url)
        sampler = None
        if point.app == "celery":
            sampler = BacklogSampler(stack.settings.effective_redis_url)
            sampler.start()
        try:
            meta = run_locust(
                stack,
                plan,
                users,
                point.visitors + 1,
                plan.window_s,
                scratch / f"{point.name}.csv",
                plan.spawn_s,
                scratch / f"{point.name}.log",
            )
        finally:
            backlog = sampler.stop() if sampler else None
        if point.app == "celery":
            # Emails taken off the queue in the last moments are still at the provider: give
            # them one provider delay, so `pending` counts the backlog, not the ones in flight.
            time.sleep(point.smtp_delay_s + 1.0)
        deliveries = stack.provider.deliveries()
    shutil.rmtree(stack.run_dir, ignore_errors=True)  # kept only when the point failed
    requests = requests_frame(scratch / f"{point.name}.csv", meta, point)
    delivered = deliveries_frame(deliveries, meta, point)
    valid = not meta["cpu_warnings"]
    requests.to_csv(raw_dir / f"{point.name}.requests.csv.gz", index=False)
    delivered.to_csv(raw_dir / f"{point.name}.deliveries.csv.gz", index=False)
    if backlog is not None:
        backlog["t_s"] = backlog["time"] - meta["window_start"]
        for key, value in reversed(point.labels().items()):
            backlog.insert(0, key, value)
        backlog.to_csv(raw_dir / f"{point.name}.backlog.csv.gz", index=False)
    return summarise_point(point, requests, delivered, plan.window_s, valid), meta


def run_throughput(base: Settings, plan: Plan, point: Point) -> list[dict[str, object]]:
    """Closed-loop floods with no think time: contact POSTs, then the bare homepage."""
    scratch = PROJECT_ROOT / "var" / "bench" / "locust"
    rows = []
    with Stack(point.app, bench_settings(base, point)) as stack:
        warm_up(stack.url)
        for endpoint, user in (("contact_post", "ContactPoster"), ("home", "HomepageReader")):
            name = f"throughput-{point.name}-{endpoint}"
            meta = run_locust(
                stack,
                plan,
                [user],
                point.visitors,
                plan.throughput_window_s,
                scratch / f"{name}.csv",
                0.5,
                scratch / f"{name}.log",
            )
            frame = requests_frame(scratch / f"{name}.csv", meta, point)
            frame.to_csv(plan.out / "raw" / f"{name}.requests.csv.gz", index=False)
            done = frame[frame["in_window"] & (frame["endpoint"] == endpoint)]
            ok = done[done["ok"]]["latency_ms"]
            rows.append(
                {
                    **point.labels(),
                    "users": point.visitors,
                    "endpoint": endpoint,
                    "n": len(done),
                    "errors": int((~done["ok"]).sum()),
                    "rps": len(ok) / plan.throughput_window_s,
                    "p50_ms": percentile(ok, 50),
                    "p99_ms": percentile(ok, 99),
                    "valid": not meta["cpu_warnings"],
                    "locust_cpu_warnings": len(meta["cpu_warnings"]),
                }
            )
    shutil.rmtree(stack.run_dir, ignore_errors=True)
    return rows


# The whole sweep


def environment(plan: Plan, base: Settings, started: float, wall_s: float) -> dict[str, object]:
    plan_record = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(plan).items()}
    plan_record["out"] = os.path.relpath(plan.out, PROJECT_ROOT)
    return {
        **machine_record(started, base),
        "wall_time_s": round(wall_s, 1),
        "plan": plan_record,
        "settings": settings_record(base),
        "notes": [
            "Every app ran under the same web tier: the plan's web_workers x web_threads.",
            "Ports were chosen free for each point; the lab started its own Redis (redis_server "
            "says which binary) unless REDIS_URL was set.",
            "The rate limit was off (RATE_LIMIT_S=0): every Locust visitor comes from "
            "127.0.0.1, so it would refuse all but one of them.",
        ],
    }


def model_row(plan: Plan, point: Point, service_s: float) -> dict[str, object]:
    """The queueing model's homepage prediction for one point of the blocking (sync) app."""
    prediction = predict(plan.scenario(point, service_s))
    return {
        **point.labels(),
        "p50_ms": prediction.p50_s * 1000,
        "p95_ms": prediction.p95_s * 1000,
        "article_ms": prediction.article_s * 1000,
    }


def headline(point: Point, rows: list[dict[str, object]], model: float | None) -> str:
    by = {r["endpoint"]: r for r in rows}
    home, post, mail = by["home"], by["contact_post"], by["email_delivery"]
    text = (
        f"{point.app:8} {point.visitors:3} visitors  homepage p50 {plots.fmt_ms(home['p50_ms']):>8}"
        f" p95 {plots.fmt_ms(home['p95_ms']):>8} (n={home['n']})"
    )
    if model is not None:
        text += f" model {plots.fmt_ms(model):>7}"
    if post["n"]:
        text += f" | POST p50 {plots.fmt_ms(post['p50_ms']):>8}"
        text += f" | emails {mail['n']} delivered, {mail['pending']} queued"
    if home["errors"] or home["pending"] or post["errors"]:
        text += f" | errors {home['errors'] + post['errors']}, unanswered {home['pending']}"
    if not home["valid"]:
        text += "  INVALID: Locust's CPU warning fired"
    return text


def run(plan: Plan, base: Settings) -> int:
    started = time.time()
    if plan.out.exists():
        for stale in ("raw", "plots"):
            shutil.rmtree(plan.out / stale, ignore_errors=True)
    (plan.out / "raw").mkdir(parents=True, exist_ok=True)
    points = plan.points()
    floods = plan.throughput_points()
    print(
        f"Sweep: {len(points)} points ({', '.join(plan.apps)} x visitors "
        f"{', '.join(map(str, plan.visitors))}), provider delay {plan.delay_s:g} s, web tier "
        f"{'/'.join(map(str, plan.web_workers))} worker(s) x "
        f"{'/'.join(map(str, plan.web_threads))} thread(s), {plan.window_s:g} s measured per "
        f"point" + (f", plus {len(floods)} throughput point(s)" if floods else "") + "."
    )
    summary_rows: list[dict[str, object]] = []
    throughput_rows: list[dict[str, object]] = []
    model_rows: list[dict[str, object]] = []
    sync_idle_ms: dict[tuple[int, int], float] = {}
    with tqdm(
        total=len(points) + len(floods), unit="point", dynamic_ncols=True, disable=None
    ) as bar:
        for point in points:
            bar.set_description(f"{point.app} {point.visitors} visitors")
            rows, _meta = run_point(base, plan, point)
            summary_rows.extend(rows)
            model = None
            if point.app == "sync":
                limits = (point.web_workers, point.web_threads)
                if point.visitors == 0:
                    sync_idle_ms[limits] = float(rows[0]["p50_ms"])
                # The model's cheap request takes what this web tier's idle homepage took.
                model_rows.append(model_row(plan, point, sync_idle_ms.get(limits, 3.0) / 1000))
                model = model_rows[-1]["p50_ms"]
            bar.write(headline(point, rows, model))
            bar.update()
        for point in floods:
            bar.set_description(f"throughput {point.app}")
            rows = run_throughput(base, plan, point)
            throughput_rows.extend(rows)
            bar.write(
                f"{point.app:8} throughput, {point.visitors} users, no think time: "
                + ", ".join(f"{r['endpoint']} {r['rps']:.0f}/s" for r in rows)
                + ("" if all(r["valid"] for r in rows) else "  INVALID: Locust's CPU warning fired")
            )
            bar.update()

    summary = pd.DataFrame(summary_rows, columns=SUMMARY_COLUMNS)
    summary.to_csv(plan.out / "summary.csv", index=False, float_format="%.3f")
    model = pd.DataFrame(model_rows)
    model.to_csv(plan.out / "model.csv", index=False, float_format="%.3f")
    throughput = pd.DataFrame(throughput_rows)
    if len(throughput):
        throughput.to_csv(plan.out / "throughput.csv", index=False, float_format="%.3f")
    wall = time.time() - started
    env = environment(plan, base, started, wall)
    (plan.out / "environment.json").write_text(json.dumps(env, indent=2) + "\n")
    written = write_plots(plan.out, summary, model, throughput)
    report_md = rebuild_report(plan.out)
    (plan.out / "report.md").write_text(report_md)
    claims = claims_for(summary, throughput if len(throughput) else None, model)

    print()
    if claims:
        print(report.text_table(report.claims_frame(claims)))
    else:
        print("The claims are judged on a run of one setup (make bench); see report.md.")
    if plan.delay_s != Plan.delay_s or max(plan.visitors) < max(Plan.visitors):
        print(
            f"\nNote: this run's provider delay is {plan.delay_s:g} s with up to "
            f"{max(plan.visitors)} visitors; the article's figures assume {Plan.delay_s:g} s and "
            f"~{max(Plan.visitors)} visitors, so read the verdicts as a smoke test."
        )
    print()
    print(
        f"Wrote {os.path.relpath(plan.out, Path.cwd())}/: summary.csv, model.csv, "
        f"{'throughput.csv, ' if len(throughput) else ''}environment.json, report.md, "
        f"raw/ ({len(list((plan.out / 'raw').iterdir()))} files), plots/ ({len(written)} PNGs)"
    )
    if plan.out.resolve() == RESULTS_DIR.resolve():
        update_readme(report_md)
        print("README.md: its results section now shows this run.")
    print(f"Sweep took {wall / 60:.1f} minutes.")
    return 0


def write_plots(
    out: Path, summary: pd.DataFrame, model: pd.DataFrame, throughput: pd.DataFrame
) -> list[Path]:
    """The sweep's figures; with several web tiers or worker pools, one set for each."""
    written = []
    setups = summary[["web_workers", "web_threads", "celery_concurrency"]].drop_duplicates()
    setups = list(setups.itertuples(index=False))
    pools = sorted({c for _, _, c in setups})
    tiers = list(dict.fromkeys((w, t) for w, t, _ in setups))
    for workers, threads in tiers:
        for pool in pools:
            suffix = "" if len(tiers) == 1 else f"-w{workers}t{threads}"
            suffix += "" if len(pools) == 1 else f"-c{pool}"

            def pick(frame: pd.DataFrame, w: int = workers, t: int = threads) -> pd.DataFrame:
                return frame[(frame["web_workers"] == w) & (frame["web_threads"] == t)]

            part = pick(summary)
            part = part[(part["app"] != "celery") | (part["celery_concurrency"] == pool)]
            charts = {
                "homepage_latency": plots.homepage_latency(
                    part, pick(model) if len(model) else None
                ),
                "contact_post_latency": plots.contact_post_latency(part),
            }
            if (part["app"] == "celery").any():
                charts["email_delivery"] = plots.email_delivery(part)
            for name, fig in charts.items():
                written.append(plots.save(fig, out / "plots" / f"{name}{suffix}.png"))
    if len(throughput):
        written.append(plots.save(plots.throughput(throughput), out / "plots" / "throughput.png"))
    return written


SETUP_COLUMNS = ["web_workers", "web_threads", "celery_concurrency"]


def setups(summary: pd.DataFrame) -> list[tuple[int, int, int]]:
    """The web tiers and worker pools a run covered, in the order it ran them."""
    return [tuple(row) for row in summary[SETUP_COLUMNS].drop_duplicates().to_numpy()]


def claims_for(
    summary: pd.DataFrame, throughput: pd.DataFrame | None, model: pd.DataFrame | None
) -> list[report.Claim]:
    """The claims, judged on a run with one setup (the reference run); none for a sweep."""
    if len(setups(summary)) != 1:
        return []
    return report.claims(summary, throughput, model)


def read_results(out: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """summary, model and throughput of the results in `out` (empty frames where none)."""
    summary = pd.read_csv(out / "summary.csv")
    has_model = (out / "model.csv").stat().st_size > 1  # a sweep without the sync app: no rows
    model = pd.read_csv(out / "model.csv") if has_model else pd.DataFrame()
    has_throughput = (out / "throughput.csv").exists()
    throughput = pd.read_csv(out / "throughput.csv") if has_throughput else pd.DataFrame()
    return summary, model, throughput


def rebuild_report(out: Path) -> str:
    """`report.md` of the results in `out`, computed from its files alone."""
    summary, model, throughput = read_results(out)
    env = json.loads((out / "environment.json").read_text())
    claims = claims_for(
        summary, throughput if len(throughput) else None, model if len(model) else None
    )
    return render_report(out, summary, model, claims, env)


def render_report(
    out: Path,
    summary: pd.DataFrame,
    model: pd.DataFrame,
    claims: list[report.Claim],
    env: dict[str, object],
) -> str:
    """The run in Markdown: machine, headline table(s), claims. Links are relative to the repo."""
    machine = env["machine"]
    plan = env["plan"]
    rel = os.path.relpath(out, PROJECT_ROOT)
    lines = [
        f"Measured {env['date']} on {machine['cpu_model']} ({machine['cores']} cores), "
        f"{machine['os']}, Python {machine['python']}, Locust {env['packages']['locust']}; "
        f"commit {env['git_commit']}; the sweep took {env['wall_time_s'] / 60:.1f} minutes.",
        "",
        f"Web tier for every app: {'/'.join(map(str, plan['web_workers']))} gunicorn worker(s) x "
        f"{'/'.join(map(str, plan['web_threads']))} thread(s). Provider delay "
        f"{plan['delay_s']:g} s. Visitors start at once and think {plan['think_s']:g} s between "
        f"journeys; the homepage probe runs {plan['probe_rate']:g}/s on a fixed schedule; "
        f"each point answers a few warm-up requests, then measures the {plan['window_s']:g} s "
        + (
            f"after {plan['warmup_s']:g} s of load."
            if plan["warmup_s"]
            else "from the moment the visitors start."
        ),
    ]
    several = len(setups(summary)) > 1
    for workers, threads, pool in setups(summary):
        part = summary[
            (summary["web_workers"] == workers)
            & (summary["web_threads"] == threads)
            & (summary["celery_concurrency"] == pool)
        ]
        part_model = (
            model[(model["web_workers"] == workers) & (model["web_threads"] == threads)]
            if len(model)
            else model
        )
        setup = (
            f" ({workers} worker(s) x {threads} thread(s), Celery pool {pool})" if several else ""
        )
        lines += [
            "",
            f"Homepage latency{setup}, p50 / p95 (n probes), while that many visitors use the "
            "contact form:",
            "",
            report.markdown_table(
                report.headline_table(part, part_model if len(part_model) else None)
            ),
        ]
    if claims:
        lines += ["", report.markdown_table(report.claims_frame(claims))]
    lines += [
        "",
        f"![Homepage latency vs visitors]({rel}/plots/{first_plot(out)})",
        "",
        f"Everything above is computed from `{rel}/summary.csv` and `{rel}/raw/`; the machine "
        f"and every setting are in `{rel}/environment.json`.",
    ]
    return "\n".join(lines) + "\n"


def first_plot(out: Path) -> str:
    names = sorted(p.name for p in (out / "plots").glob("homepage_latency*.png"))
    return names[0] if names else "homepage_latency.png"


def replot(out: Path) -> int:
    """Draw the figures and write the report again from the files in `out`; measure nothing."""
    summary, model, throughput = read_results(out)
    shutil.rmtree(out / "plots", ignore_errors=True)
    written = write_plots(out, summary, model, throughput)
    report_md = rebuild_report(out)
    (out / "report.md").write_text(report_md)
    print(f"{os.path.relpath(out, Path.cwd())}: {len(written)} figures and report.md redrawn")
    if out.resolve() == RESULTS_DIR.resolve():
        update_readme(report_md)
        print("README.md: its results section now shows this run.")
    return 0


def parse_args(argv: list[str] | None = None) -> tuple[Plan, bool]:
    """The plan the command line asks for, and whether it only asks to --replot."""
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.sweep",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d = Plan()
    parser.add_argument(
        "--quick",
        action="store_true",
        help="short delay, visitors 0 and 4, short runs, into results/quick/",
    )
    parser.add_argument("--apps", nargs="+", choices=APPS)
    parser.add_argument("--visitors", nargs="+", type=int, help=f"default {d.visitors}")
    parser.add_argument(
        "--delay",
        type=float,
        dest="delay_s",
        help=f"provider delay in seconds (default {d.delay_s})",
    )
    parser.add_argument(
        "--web-workers",
        nargs="+",
        type=int,
        help="gunicorn workers; several values sweep them (default 1)",
    )
    parser.add_argument(
        "--web-threads",
        nargs="+",
        type=int,
        help="threads per worker; several values sweep them (default 1)",
    )
    parser.add_argument(
        "--celery-concurrency",
        nargs="+",
        type=int,
        help=f"Celery worker processes (default {d.celery_concurrency})",
    )
    parser.add_argument(
        "--think", type=float, dest="think_s", help=f"visitor think time, s (default {d.think_s})"
    )
    parser.add_argument(
        "--probe-rate", type=float, help=f"homepage probes per second (default {d.probe_rate})"
    )
    parser.add_argument(
        "--window",
        type=float,
        dest="window_s",
        help=f"seconds measured per point (default {d.window_s})",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        dest="warmup_s",
        help=f"seconds of load before measuring (default {d.warmup_s})",
    )
    parser.add_argument(
        "--no-throughput",
        action="store_false",
        dest="throughput",
        default=None,
        help="skip the Celery throughput point",
    )
    parser.add_argument("--out", type=Path, help="results folder (default results/)")
    parser.add_argument(
        "--replot",
        action="store_true",
        help="measure nothing: redraw the plots and the report of --out (default results/)",
    )
    args = parser.parse_args(argv)
    changes = dict(QUICK) if args.quick else {}
    for key, value in vars(args).items():
        if key in ("quick", "replot") or value is None:
            continue
        changes[key] = tuple(value) if isinstance(value, list) else value
    if "out" in changes:
        changes["out"] = Path(changes["out"]).resolve()
    return replace(Plan(), **changes), args.replot


def main(argv: list[str] | None = None) -> int:
    plan, only_replot = parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # a point's line shows up at once, even in a pipe
    sigterm_like_ctrl_c()
    matplotlib.use("Agg")  # figures go to files; never open a window on a student's desktop
    if only_replot:
        return replot(plan.out)
    base = Settings.from_env()
    try:
        return run(plan, base)
    except KeyboardInterrupt:
        print("\nSweep interrupted; every stack it started has been stopped.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
