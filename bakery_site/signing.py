"""Keyed signatures (HMAC-SHA256 under SECRET_KEY) of what the site hands a visitor and takes
back: a form's send key, a task page's right to follow the task. The purpose is signed too, so
one kind cannot stand in for another."""

from __future__ import annotations

import hashlib
import hmac


def signature(secret_key: str, purpose: str, value: str) -> str:
    message = f"{purpose}:{value}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


def signed_by_us(secret_key: str, purpose: str, value: str, given: object) -> bool:
    return isinstance(given, str) and hmac.compare_digest(
        given.encode(), signature(secret_key, purpose, value).encode()
    )
