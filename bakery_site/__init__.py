"""The bakery site the three apps share, free of any web framework: its catalogue, forms and
their validation, page texts and limits, the admin rule, the rate limit, and the templates."""

from pathlib import Path

TEMPLATES = str(Path(__file__).parent / "templates")
