"""Use case 4, scheduled work: remind the accounts that have been idle for six months.

A real SQLite table of seeded fake accounts, and one job that emails a reminder to each idle
account through the same slow provider. Celery beat runs the job once per tick however many
web servers there are; `make run-once` compares that with cron in every web server.
"""
