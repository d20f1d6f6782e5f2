"""`python -m lab_settings`: the settings table of the README."""

from lab_settings import settings_markdown

print(settings_markdown())
