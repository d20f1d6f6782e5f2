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
