"""The anti-pattern, for comparison: a scheduler inside every web server process."""

from __future__ import annotations

import logging
import threading
import time

from idle_accounts.job import remind_idle_accounts
from idle_accounts.store import AccountStore
from lab_settings import Settings

logger = logging.getLogger(__name__)


def start_cron_thread(settings: Settings) -> threading.Thread:
    """Run the job every CRON_IN_WEB_S seconds, on the wall-clock tick, like crond does."""

    def loop() -> None:
        store = AccountStore(settings.accounts_db_path)
        period = settings.cron_in_web_s
        while True:
            time.sleep(period - time.time() % period)  # wake on the tick, as every server does
            try:
                remind_idle_accounts(store, settings)
            except Exception:  # a failed run must not kill the web server's scheduler
                logger.exception("idle-account reminder run failed")

    thread = threading.Thread(target=loop, name="cron-in-web", daemon=True)
    thread.start()
    return thread
