# One image for every part of the lab (apps, worker, provider); docker-compose.yml picks the command.
FROM python:3.11-slim
WORKDIR /lab
COPY requirements.txt pyproject.toml ./
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN pip install --no-cache-dir --no-deps --editable .
# Run as a user of its own, never root; it may write only its data folders.
# /lab/var/reports exists, owned by lab and closed to others (the reports list members), so
# the `reports` volume starts out the same.
RUN useradd --create-home --uid 10001 lab && mkdir -p /data /lab/var/reports \
    && chown lab /data /lab/var /lab/var/reports && chmod 0700 /lab/var/reports
USER lab
# Production unless told otherwise: the apps then refuse to start without a real SECRET_KEY.
ENV LAB_ENV=production
ENV PYTHONUNBUFFERED=1 WEB_HOST=0.0.0.0 SMTP_HOST=provider REDIS_URL=redis://redis:6379/0
