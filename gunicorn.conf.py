"""gunicorn settings for all three apps, from the lab's settings: identical web-tier limits."""

from contact_form.settings import Settings

_settings = Settings.from_env()

bind = f"{_settings.web_host}:{_settings.web_port}"
workers = _settings.web_workers
threads = _settings.web_threads
timeout = _settings.web_timeout_s
graceful_timeout = 5
# Access logs cost CPU that the load generator needs on a 2-core machine; errors still log.
accesslog = None
errorlog = "-"
loglevel = "warning"
# Nobody's X-Forwarded-For is believed here: uvicorn (the async app's server) would believe it
# from loopback. The apps apply TRUSTED_PROXIES themselves, the same way in all three.
forwarded_allow_ips = ""


def post_worker_init(worker) -> None:
    """CRON_IN_WEB_S > 0: this web server also runs the nightly job itself, as cron in every
    container would. Only `make run-once` turns it on, to count what that costs."""
    if _settings.cron_in_web_s > 0:
        from idle_accounts.cron import start_cron_thread

        start_cron_thread(_settings)
