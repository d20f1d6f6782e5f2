"""Entry point of the Celery worker: `celery -A celery_app.worker worker`."""

from celery_app import create_app

flask_app = create_app()
celery = flask_app.extensions["celery"]
