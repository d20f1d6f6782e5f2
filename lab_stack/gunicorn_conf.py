"""gunicorn settings for all three apps, from the lab's settings: identical web-tier limits."""

from lab_settings import Settings
from site_glue.deadline_worker import deadline_sync_worker, deadline_thread_worker

_settings = Settings.from_env()

bind = f"{_settings.web_host}:{_settings.web_port}"
workers = _settings.web_workers
threads = _settings.web_threads
# One deadline for a whole request (headers and body), so a trickling client cannot hold a
# worker or a thread; the async app gets uvicorn's worker from its command line, which overrides
# this. gevent's worker monkey-patches the standard library, so the blocking SMTP call lets other
# requests run (a trickling client there holds one cheap greenlet).
if _settings.web_worker_class == "gevent":
    worker_class = "gevent"
    worker_connections = 1000
elif threads == 1:
    worker_class = deadline_sync_worker(_settings.request_body_timeout_s)
else:
    worker_class = deadline_thread_worker(_settings.request_body_timeout_s)
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
