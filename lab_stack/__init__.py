"""Starts and stops a whole stack for one app, without Docker (see stack.py)."""
