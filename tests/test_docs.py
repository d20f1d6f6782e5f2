"""The README, the pages under docs/ and the compose file say what the code and `results/` do."""

from __future__ import annotations

import importlib.util
import ipaddress
import itertools
import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from lab_settings import DEVELOPMENT_SECRET_KEY, Settings, settings_markdown
from loadtests.analysis.bench_plan import Plan
from loadtests.analysis.open_arrivals_plan import OpenPlan, agreement
from loadtests.publishing import (
    article_claims,
    bench_report,
    compare,
    cost_sections,
    equal_load,
    pages,
)
from loadtests.publishing.records import (
    DOCS_DIR,
    README,
    doc_pages,
    generated_section,
    measured_on,
    settings_record,
)
from loadtests.runners import api_lookup, chaos, cpu_cost, report_isolation, report_progress

ROOT = Path(__file__).resolve().parents[1]


def test_the_settings_table_is_the_one_the_code_prints():
    assert generated_section("settings") == settings_markdown()


def test_compose_publishes_only_what_a_browser_opens_and_only_on_loopback():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]

    published = {name: svc["ports"] for name, svc in services.items() if "ports" in svc}

    # Only the proxy, in front of the three web apps and of the push service the Celery app's
    # pages connect to: each of them is reached through it alone.
    assert set(published) == {"proxy"}
    assert all(port.startswith("127.0.0.1:") for ports in published.values() for port in ports)
    proxied = {"sync", "celery", "asyncio", "celery-push"}
    assert set(services["proxy"]["depends_on"]) == proxied
    assert "./deploy/nginx.conf:/etc/nginx/conf.d/default.conf:ro" in services["proxy"]["volumes"]
    assert "127.0.0.1:8010:8010" in services["proxy"]["ports"]
    assert "celery-push:8010" in (ROOT / "deploy" / "nginx.conf").read_text()


def test_compose_believes_forwarded_headers_from_its_proxy_alone():
    """Every container on the compose network could send X-Forwarded-For: the apps and the push
    service believe it only from the proxy's own fixed address."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    proxy_address = services["proxy"]["networks"]["default"]["ipv4_address"]
    subnet = compose["networks"]["default"]["ipam"]["config"][0]["subnet"]
    believers = {"sync", "celery", "asyncio", "celery-push"}

    assert ipaddress.ip_address(proxy_address) in ipaddress.ip_network(subnet)
    for name in believers:
        environment = services[name]["environment"]
        assert environment["TRUSTED_PROXIES"] == "1", name
        assert environment["FORWARDED_ALLOW_IPS"] == proxy_address, name
    # uvicorn reads FORWARDED_ALLOW_IPS from the environment: it must not be told otherwise.
    assert "--forwarded-allow-ips" not in services["celery-push"]["command"]
    assert "--no-proxy-headers" not in services["celery-push"]["command"]


def test_compose_gives_the_containers_the_admin_token_and_keeps_the_reports_private():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    dockerfile = (ROOT / "Dockerfile").read_text()

    for name in ("sync", "celery", "asyncio"):
        assert services[name]["environment"]["ADMIN_TOKEN"].startswith("${ADMIN_TOKEN"), name
    assert re.search(r"chmod 0?700 [^\n]*/lab/var/reports", dockerfile)


def test_compose_file_follows_the_compose_specification():
    """No Docker engine runs here: the file is at least valid for one that does."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(ROOT / "docker-compose.yml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def _named_in(argv: list[str]) -> tuple[set[str], set[str]]:
    """The modules (`-m X`, `-A X`, `--worker-class X`, `X:factory`) and files a command names."""
    modules, files = set(), set()
    for flag, value in itertools.pairwise(argv):
        if flag in ("-m", "-A", "--factory"):
            modules.add(value.partition(":")[0])
        if flag == "--worker-class":  # a class: module.Class
            modules.add(value.rpartition(".")[0])
        if flag == "--config":  # a file, or gunicorn's python:module
            if value.startswith("python:"):
                modules.add(value.removeprefix("python:"))
            else:
                files.add(value)
    modules |= {arg.partition(":")[0] for arg in argv if re.fullmatch(r"[\w.]+:\w+(\(\))?", arg)}
    return modules, files


def test_every_command_in_the_compose_file_exists_in_the_image():
    """The image is this project installed (Dockerfile): its scripts, modules and files."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    ours = {name: svc["command"] for name, svc in services.items() if svc.get("build") == "."}
    scripts = Path(sys.executable).parent

    assert set(ours) == set(services) - {"redis", "proxy"}
    for name, argv in ours.items():
        modules, files = _named_in(argv)
        assert argv[0] == "python" or (scripts / argv[0]).exists(), f"{name}: no {argv[0]}"
        assert modules, f"{name}: names no module of the lab"
        for module in modules:
            assert importlib.util.find_spec(module), f"{name}: no module {module}"
        for file in files:
            assert (ROOT / file).is_file(), f"{name}: no file {file}"


def test_compose_runs_in_production_with_the_secret_key_from_the_environment():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    ours = {name: svc for name, svc in services.items() if svc.get("build") == "."}

    for name, service in ours.items():
        assert service["environment"]["LAB_ENV"] == "production", name
        assert service["environment"]["SECRET_KEY"].startswith("${SECRET_KEY:?"), name


def test_compose_runs_exactly_one_beat_and_one_worker_per_queue():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    commands = [svc["command"] for svc in services.values() if "command" in svc]
    workers = [c for c in commands if c[:1] == ["celery"] and "worker" in c]

    assert sum(command[:1] == ["celery"] and "beat" in command for command in commands) == 1
    assert sorted(c[c.index("--queues") + 1] for c in workers) == ["celery", "reports"]


def test_the_image_runs_as_a_user_of_its_own():
    users = re.findall(r"^USER\s+(\S+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE)

    assert users and users[-1] not in ("root", "0")


def test_no_record_of_a_run_holds_a_secret():
    settings = Settings().replace(
        secret_key="s3cret-key", admin_token="s3cret-token", redis_url="redis://u:pw@h:1/0"
    )
    record = json.dumps(settings_record(settings))
    committed = [path.read_text() for path in (ROOT / "results").rglob("*.json")]

    assert "s3cret" not in record and ":pw@" not in record
    assert '"redis_url": "redis://u:***@h:1/0"' in record
    assert committed, "no committed records to check"
    for text in committed:
        assert not re.search(r'"(secret_key|admin_token)": "[^"]', text)  # older records: ""
        assert DEVELOPMENT_SECRET_KEY not in text


def test_the_report_progress_table_is_the_committed_run():
    computed = ROOT / "results" / "report_progress-compute.csv"
    assert generated_section("report-progress-compute") + "\n" == (
        report_progress.readme_table(
            pd.read_csv(computed), json.loads(computed.with_suffix(".json").read_text())
        )
    )
    events = pd.read_csv(ROOT / "results" / "report_progress.csv")
    record = json.loads((ROOT / "results" / "report_progress.json").read_text())

    assert generated_section("report-progress") + "\n" == (
        report_progress.readme_table(events, record)
    )
    # What it is there to show: only the Celery page answers before the report is built, and
    # only it shows progress meanwhile.
    first = events[events.event == "answer"].set_index("app").t_s
    updates = events[events.event == "progress"].groupby("app").size()
    assert first["celery"] < 1.0 < record["report_s"] * 0.9 < min(first["sync"], first["asyncio"])
    assert updates.get("celery", 0) > 1 and updates.get("sync", 0) == updates.get("asyncio", 0) == 0


def test_the_report_queue_table_is_the_committed_run():
    table = pd.read_csv(ROOT / "results" / "report_isolation.csv")
    record = json.loads((ROOT / "results" / "report_isolation.json").read_text())

    assert generated_section("report-isolation") + "\n" == (
        report_isolation.readme_table(table, record)
    )
    # What the table is there to show, read from the data: emails wait behind reports only
    # when the reports share their queue.
    rows = table.set_index(["report_queue", "reports_running"])
    assert rows.loc[("reports", 4), "delay_p50_s"] < 2 * rows.loc[("reports", 0), "delay_p50_s"]
    assert rows.loc[("celery", 4), "delay_p50_s"] > record["settings"]["report_duration_s"] / 2


def test_the_redis_faults_table_is_the_committed_chaos_run():
    table = pd.read_csv(ROOT / "results" / "chaos.csv")
    record = json.loads((ROOT / "results" / "chaos.json").read_text())

    assert generated_section("redis-faults") + "\n" == (chaos.readme_section(table, record))
    # What it is there to show: whatever Redis did, every visitor got an answer, and nothing
    # the app accepted was lost or sent twice.
    redis_rows = table[table["scenario"].str.startswith("redis-")]
    assert set(redis_rows["scenario"]) >= {"redis-restarted", "redis-crashed", "redis-stalled"}
    assert (redis_rows["no_answer"] == 0).all()
    assert (redis_rows[["lost", "duplicates"]] == 0).all().all()


def test_the_equal_load_sections_are_the_committed_runs():
    open_csv = ROOT / "results" / "open" / "summary.csv"
    regimes_csv = ROOT / "results" / "regimes" / "summary.csv"
    table, regimes = pd.read_csv(open_csv), pd.read_csv(regimes_csv)
    assert generated_section("open-arrivals") + "\n" == equal_load.open_readme()
    assert generated_section("regimes") + "\n" == equal_load.regimes_section(
        regimes, json.loads(regimes_csv.with_suffix(".json").read_text())
    )
    # What they are there to show. The same work for every hand-off: one schedule, one rate.
    first = table[(table["generator"] == "locust") & (table["seed"] == 1)]
    assert first.groupby("rho")["offered_rate"].nunique().eq(1).all()
    assert set(first.groupby("rho")["hand_off"].nunique()) == {first["hand_off"].nunique()}
    # The start picks the closed loop's level, and neither drifts to the other.
    levels = regimes.set_index("start")
    assert levels.loc["synchronized", "bin_p50_min_ms"] > levels.loc["staggered", "bin_p50_max_ms"]


def test_the_cpu_section_is_the_committed_run():
    table = pd.read_csv(ROOT / "results" / "cpu_per_request.csv")
    record = json.loads((ROOT / "results" / "cpu_per_request.json").read_text())
    profile = pd.DataFrame(record["post_profile"])

    assert generated_section("cpu-per-request") + "\n" == (cpu_cost.readme_section(table, record))
    assert abs(profile["share"].sum() - 1) < 0.01


LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, - for space."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):  # a web address: not checked offline
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{page.name}: {target} (no such file)")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{page.name}: {target} (no such heading)")
    return broken


def test_every_link_and_image_on_the_pages_resolves():
    pages = doc_pages()

    assert {p.name for p in pages} >= {"README.md", "results.md", "teaching.md", "glossary.md"}
    assert [b for page in pages for b in broken_links(page)] == []
    assert IMAGE.findall(README.read_text()) and IMAGE.findall(
        (DOCS_DIR / "results.md").read_text()
    )


def test_the_link_checker_finds_a_missing_file_and_a_missing_heading(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# A heading\n[ok](#a-heading) [gone](nowhere.md) [no](#b) ![x](x.png)\n")

    assert broken_links(page) == [
        "page.md: nowhere.md (no such file)",
        "page.md: #b (no such heading)",
        "page.md: x.png (no such file)",
    ]


COMMAND = re.compile(r"`(make [a-z-]+|python -m [\w.]+)")


def test_every_generated_section_names_an_existing_command_that_regenerates_it():
    targets = set(re.findall(r"^([a-z-]+):", (ROOT / "Makefile").read_text(), re.MULTILINE))
    for page in doc_pages():
        text = page.read_text()
        for marker in re.findall(r"<!-- ([a-z-]+):start -->", text):
            before = text[: text.index(f"<!-- {marker}:start -->")].rstrip().rsplit("\n\n", 1)[-1]
            named = COMMAND.findall(before + generated_section(marker))
            assert named, f"{page.name}: {marker} names no command"
            for command in named:
                if command.startswith("make "):
                    assert command.removeprefix("make ") in targets, command
                else:
                    assert importlib.util.find_spec(command.removeprefix("python -m ")), command


def test_every_make_target_is_in_the_commands_table():
    makefile = (ROOT / "Makefile").read_text()
    documented = set(re.findall(r"^([a-z-]+):.*## ", makefile, re.MULTILINE))
    reference = (DOCS_DIR / "reference.md").read_text()
    table = reference.split("## Commands")[1].split("\n## ")[0]

    assert len(documented) > 30
    assert sorted(t for t in documented if f"`make {t}" not in table) == []


def test_the_first_screen_and_the_install_section_are_what_the_code_computes():
    assert generated_section("answer") + "\n" == pages.answer()
    assert generated_section("claims") + "\n" == article_claims.claims_section()
    assert generated_section("commands") + "\n" == pages.commands_section()
    assert generated_section("install") + "\n" == pages.install_section()
    claims = article_claims.claims()
    assert list(claims["claim"]) == ["C1", "C2, C3", *(f"C{n}" for n in range(4, 11))]
    assert claims["verdict"].str.len().gt(0).all()


def test_the_cost_section_is_the_committed_run_or_says_there_is_none():
    """Decided: before `make bench-cost` has written results/cost/needed.csv, its section says
    it has not run and the README's answer holds no sentence about it; after, both are the
    run's."""
    ran = (ROOT / "results" / "cost" / "needed.csv").exists()

    assert generated_section("cost") + "\n" == cost_sections.results_section()
    assert ("bench-cost" in generated_section("answer")) == ran
    if not ran:
        assert generated_section("cost") + "\n" == cost_sections.NOT_MEASURED


def test_the_api_lookup_table_is_the_committed_run():
    table = pd.read_csv(ROOT / "results" / "api_lookup.csv")
    record = json.loads((ROOT / "results" / "api_lookup.json").read_text())

    assert generated_section("api-lookup") + "\n" == api_lookup.readme_table(table, record)


def test_the_capacity_section_is_the_committed_run():
    web_csv = ROOT / "results" / "capacity" / "web.csv"
    email = pd.read_csv(ROOT / "results" / "capacity" / "email.csv")
    record = json.loads(web_csv.with_suffix(".json").read_text())

    assert generated_section("capacity") + "\n" == equal_load.capacity_section(
        pd.read_csv(web_csv), email, record
    )


def test_a_section_says_when_the_code_differed_from_the_commit_it_names():
    record = json.loads((ROOT / "results" / "open" / "summary.json").read_text())
    # An older record kept the flag, not the files.
    older = {k: v for k, v in record.items() if k != "git_uncommitted_files"}
    assert "with uncommitted changes (files not recorded)" in measured_on(
        {**older, "git_uncommitted_changes": True}
    )
    record = {**record, "git_uncommitted_changes": True}
    chaos_run = json.loads((ROOT / "results" / "chaos.json").read_text())
    assert chaos_run["git_uncommitted_changes"]
    assert f"at {chaos_run['git_commit']} with uncommitted changes" in generated_section(
        "hand-offs"
    )
    named = measured_on({**record, "git_uncommitted_files": ["loadtests/runners/bench.py"]})
    assert named.endswith(
        f"commit {record['git_commit']} with uncommitted changes to loadtests/runners/bench.py"
    )
    assert "uncommitted" not in measured_on({**record, "git_uncommitted_changes": False})


def test_the_bench_asks_no_steadiness_of_a_page_nobody_requested():
    reference = compare._table(ROOT / "results")
    idle_posts = reference[(reference["visitors"] == 0) & (reference["endpoint"] == "contact_post")]
    assert len(idle_posts) and not idle_posts["steady"].any()  # no posts: no halves to agree

    assert "0 visitors" not in compare.steadiness_advice(reference)


def test_the_plans_announce_about_as_long_as_the_reference_runs_took():
    """The time each plan prints before it starts, against the wall time its reference run
    recorded: the estimate comes from the plan's own windows and start-ups."""
    results = ROOT / "results"
    bench_took = json.loads((results / "environment.json").read_text())["wall_time_s"]
    sweep_took = json.loads((results / "open" / "summary.json").read_text())["wall_time_s"]
    agreement_took = json.loads((results / "open" / "agreement" / "summary.json").read_text())

    assert Plan(repeats=3, second_generator=True).total_estimate_s() == pytest.approx(
        bench_took, rel=0.25
    )
    assert OpenPlan().total_estimate_s() == pytest.approx(sweep_took, rel=0.25)
    assert OpenPlan(**agreement()).total_estimate_s() == pytest.approx(
        agreement_took["wall_time_s"], rel=0.25
    )
    assert f"About {Plan().total_estimate_s() / 60:.0f} minutes" in bench_report.plan_line(
        Plan(), len(Plan().sustained_points()), len(Plan().burst_points())
    )
