"""Use case 2 in the three apps: the prices page asks the slow rates API (real servers)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import threading
import time
import uuid

import pandas as pd
import pytest
import redis
import redis.asyncio
import requests
import websocket

import price_lookup as prices
from celery_app import create_app as create_celery_app
from celery_app.prices import look_up_rate
from celery_app.push import TaskUpdates, next_update, watch_token
from lab_stack.stack import PROJECT_ROOT, Stack
from loadtests.analysis.results import RESULTS_DIR
from loadtests.load import journey
from loadtests.load.journey import csrf_token_from
from loadtests.publishing.records import doc_pages, generated_section
from loadtests.runners.api_lookup import readme_table

PRICE_CELLS = re.compile(r'<td class="num">([^<]+)</td>')


def ask_for_prices(stack: Stack, currency: str, session: requests.Session | None = None):
    session = session or requests.Session()
    token = csrf_token_from(session.get(f"{stack.url}/prices", timeout=10).text)
    return session.post(
        f"{stack.url}/prices",
        data={"csrf_token": token, "currency": currency},
        allow_redirects=False,
        timeout=30,
    )


def final_update(stack: Stack, lookup_path: str) -> dict:
    """What the push service says about a Celery lookup once it is over."""
    task_id = lookup_path.rsplit("/", 1)[1]
    watch = watch_token(stack.settings.secret_key, task_id)
    return journey.final_update(stack.settings.push_url, task_id, watch, 20)


def test_each_app_shows_the_prices_in_the_chosen_currency(stack):
    visitor = requests.Session()
    response = ask_for_prices(stack, "JPY", visitor)

    if stack.app == "celery":
        assert response.status_code == 303  # answered at once; the rate comes later
        update = final_update(stack, response.headers["Location"])
        assert update["state"] == "SUCCESS"
        assert "html" not in update  # data, set as text by the page: never markup
        assert update["quote"]["rows"][0] == {
            "loaf": "Country sourdough",
            "eur": "6.40",
            "local": "1,047",
        }
        page = visitor.get(stack.url + response.headers["Location"], timeout=10).text
    else:
        assert response.status_code == 200
        page = response.text
    assert PRICE_CELLS.findall(page)[:2] == ["6.40", "1,047"]  # 6.40 EUR x 163.52
    assert "1 EUR = 163.52 JPY" in page
    assert stack.rates_api.stats()["answered"] == 1


@pytest.mark.parametrize("currency", ["XXX", "", "USD\r\nX-Injected: 1", "usd"])
def test_a_currency_not_in_the_list_gets_400_and_no_api_call(stack, currency):
    response = ask_for_prices(stack, currency)

    assert response.status_code == 400
    assert "Please choose" in response.text
    assert '<select id="currency" name="currency"' in response.text  # the form again
    assert stack.rates_api.stats()["calls"] == 0


def test_a_forged_token_gets_400_and_no_api_call(stack):
    response = requests.post(
        f"{stack.url}/prices", data={"csrf_token": "x", "currency": "USD"}, timeout=10
    )
    assert response.status_code == 400
    assert "Your session expired" in response.text
    assert stack.rates_api.stats()["calls"] == 0


@pytest.mark.parametrize("app", ["sync", "asyncio"])
@pytest.mark.parametrize(
    ("mode", "status", "explanation"),
    [
        ("outage", 502, "the exchange-rate service answered 503"),
        ("hang", 504, "the exchange-rate service did not answer in time"),
    ],
)
def test_without_a_queue_a_failing_api_is_explained_on_the_page(
    shared_stacks, app, mode, status, explanation
):
    stack = shared_stacks[app]
    stack.rates_api.reset()
    stack.rates_api.configure(mode=mode)
    try:
        response = ask_for_prices(stack, "DKK")
    finally:
        stack.rates_api.configure(mode="normal")

    assert response.status_code == status
    assert f"we could not get today's rate: {explanation}" in response.text
    assert '<option selected value="DKK">' in response.text  # the choice is kept


def test_the_celery_task_retries_the_api_then_pushes_the_prices(shared_stacks):
    stack = shared_stacks["celery"]
    stack.rates_api.reset()
    stack.rates_api.configure(fail_next=2)

    response = ask_for_prices(stack, "CHF")
    update = final_update(stack, response.headers["Location"])

    assert update["state"] == "SUCCESS"
    first, second, third = stack.rates_api.calls()
    assert [first["status"], second["status"], third["status"]] == [503, 503, 200]
    # Backoff of 1 s, then 2 s (the worker's own scheduling adds a little).
    assert 1.0 <= second["started"] - first["finished"] < 1.8
    assert 2.0 <= third["started"] - second["finished"] < 2.8


def test_the_celery_task_gives_up_after_its_retries_and_says_so(start_stack):
    stack = start_stack("celery", rates_api_retries=1)
    stack.rates_api.configure(mode="outage")
    visitor = requests.Session()

    response = ask_for_prices(stack, "SEK", visitor)
    update = final_update(stack, response.headers["Location"])

    assert update["state"] == "FAILURE"
    assert "could not get today's rate: the exchange-rate service answered 503" in update["text"]
    assert stack.rates_api.stats()["calls"] == 2  # the first try and one retry
    page = visitor.get(stack.url + response.headers["Location"], timeout=10)
    assert page.status_code == 200 and "answered 503" in page.text


def test_the_page_of_an_unknown_task_is_404(shared_stacks):
    stack = shared_stacks["celery"]
    assert requests.get(f"{stack.url}/prices/{uuid.uuid4()}", timeout=10).status_code == 404
    assert requests.get(f"{stack.url}/prices/not-a-task", timeout=10).status_code == 404
    assert requests.get(f"{stack.url}/reports/{uuid.uuid4()}", timeout=10).status_code == 404


def test_a_lookup_is_shown_only_to_the_visitor_who_asked_for_it(shared_stacks):
    """Its id alone (read in a log, a history, a Referer) opens neither its page nor its push."""
    stack = shared_stacks["celery"]
    visitor = requests.Session()
    lookup_path = ask_for_prices(stack, "GBP", visitor).headers["Location"]
    task_id = lookup_path.rsplit("/", 1)[1]
    updates = f"{stack.settings.push_url}/updates/{task_id}"
    final_update(stack, lookup_path)  # over: every answer below comes at once

    own_page = visitor.get(stack.url + lookup_path, timeout=10)
    watch = watch_token(stack.settings.secret_key, task_id)  # what the page gives its followers
    others_page = requests.get(stack.url + lookup_path, timeout=10)
    with_token = requests.get(updates, params={"watch": watch}, timeout=10)
    id_alone = requests.get(updates, timeout=10)
    forged = requests.get(updates, params={"watch": "0" * 64}, timeout=10)
    another_tasks = requests.get(
        updates,
        params={"watch": watch_token(stack.settings.secret_key, str(uuid.uuid4()))},
        timeout=10,
    )
    with pytest.raises(websocket.WebSocketBadStatusException):
        websocket.create_connection(updates.replace("http", "ws", 1), timeout=5)

    assert own_page.status_code == 200
    assert others_page.status_code == 404
    assert with_token.status_code == 200 and with_token.json()["final"]
    assert [id_alone.status_code, forged.status_code, another_tasks.status_code] == [404] * 3


def test_the_push_service_refuses_bad_addresses(shared_stacks):
    stack = shared_stacks["celery"]
    push = stack.settings.push_url
    known = str(uuid.uuid4())  # a task the push service knows (unknown ones get 404 first)
    TaskUpdates(redis.Redis.from_url(stack.settings.effective_redis_url)).publish(
        known, "PENDING", "Working on it..."
    )
    assert requests.get(f"{push}/updates/not-a-task", timeout=10).status_code == 404
    watch = watch_token(stack.settings.secret_key, known)
    answer = requests.get(f"{push}/updates/{known}?watch={watch}&since=soon", timeout=10)
    assert answer.status_code == 400


def test_a_long_poll_without_news_ends_empty_handed(shared_stacks):
    client = redis.asyncio.Redis.from_url(shared_stacks["celery"].settings.effective_redis_url)

    async def poll() -> object:
        try:
            return await next_update(client, str(uuid.uuid4()), since=0.0, wait_s=0.3)
        finally:
            await client.aclose()

    started = time.monotonic()
    assert asyncio.run(poll()) is None
    assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize(
    ("app", "blocked"), [("sync", True), ("asyncio", False), ("celery", False)]
)
def test_only_the_sync_homepage_waits_behind_a_slow_api_call(shared_stacks, app, blocked):
    stack = shared_stacks[app]
    stack.rates_api.configure(delay_s=1.5)
    lookup = threading.Thread(target=ask_for_prices, args=(stack, "USD"))
    calls_before = stack.rates_api.stats()["calls"]
    try:
        lookup.start()
        stack.rates_api.wait_for("calls", calls_before + 1, timeout_s=10)  # the call is under way
        started = time.monotonic()
        assert requests.get(f"{stack.url}/", timeout=10).status_code == 200
        waited = time.monotonic() - started
    finally:
        lookup.join()
        stack.rates_api.configure(delay_s=0.05)

    # 1.5 s against a few milliseconds: the margin leaves no doubt about which side of it we are.
    assert (waited > 0.5) is blocked


@pytest.mark.bench
def test_bench_api_times_each_app_and_the_readme_shows_the_committed_run(tmp_path):
    out = tmp_path / "api_lookup.csv"
    pages_before = [page.read_text() for page in doc_pages()]
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "loadtests.runners.api_lookup",
            "--out",
            str(out),
            "--visitors",
            "2",
            "--window",
            "4",
            "--delay",
            "0.5",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout[-2000:] + finished.stderr[-2000:]
    table = pd.read_csv(out).set_index("app")

    assert list(table.index) == ["sync", "celery", "asyncio"]
    assert (table["lookups"] >= 2).all() and (table["lookups_failed"] == 0).all()
    assert (table["prices_p50_s"] >= 0.5).all()  # nobody gets the rate before the API gives it
    assert table.loc["celery", "answer_p50_ms"] < 500 <= table.loc["sync", "answer_p50_ms"]
    # Half a second per call, one sync worker: the probe queues behind the calls.
    assert table.loc["sync", "homepage_p95_ms"] > 5 * table.loc["celery", "homepage_p95_ms"]
    assert [page.read_text() for page in doc_pages()] == pages_before  # only the default run may

    committed = pd.read_csv(RESULTS_DIR / "api_lookup.csv")
    record = json.loads((RESULTS_DIR / "api_lookup.json").read_text())
    assert readme_table(committed, record) == generated_section("api-lookup") + "\n"


@pytest.mark.parametrize("rate", [float("nan"), float("inf"), -1.5, 1e300, "abc"])
def test_a_nonsense_rate_from_the_api_gives_502_with_the_form_never_500(stack, rate):
    stack.rates_api.set_rates(USD=rate)

    response = ask_for_prices(stack, "USD")

    if stack.app == "celery":
        assert response.status_code == 303
        update = final_update(stack, response.headers["Location"])
        assert update["state"] == "FAILURE"
        assert "could not get today's rate" in update["text"]
    else:
        assert response.status_code == 502
        assert "could not" in response.text or "cannot use" in response.text
        assert '<select id="currency" name="currency"' in response.text  # the form again
    assert stack.rates_api.stats()["answered"] == 1


def test_a_lookup_that_crashes_still_tells_the_page_it_is_over(shared_stacks, monkeypatch):
    """A bug in the task (here: an exception nobody expected) must not leave the page waiting."""
    app = create_celery_app(shared_stacks["celery"].settings)
    task_id = str(uuid.uuid4())

    def broken_lookup(settings, currency):
        raise RuntimeError("a bug")

    monkeypatch.setattr(prices, "fetch_rate", broken_lookup)
    with app.app_context():
        result = look_up_rate.apply(("USD",), task_id=task_id)
        update = app.extensions["task_updates"].latest(task_id)

    assert isinstance(result.result, RuntimeError)
    assert update["state"] == "FAILURE" and update["final"]
    assert "something went wrong" in update["text"]
