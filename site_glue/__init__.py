"""The web frameworks' glue, side by side: Flask (`flask_site`, the sync and Celery apps) and
Quart (`quart_site`, the async app) bind the bakery site's forms and pages to requests;
`deadline_worker` is the gunicorn worker class that gives a request one deadline."""
