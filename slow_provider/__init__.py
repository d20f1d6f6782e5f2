"""A deliberately slow email provider that speaks real SMTP (see server.py)."""
