"""Webhook signatures, as GitHub and Stripe send them: `X-Moviedb-Signature: sha256=<hex>`, the
HMAC-SHA256 of the raw body with the webhook's secret."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Moviedb-Signature"
EVENT_HEADER = "X-Moviedb-Event"
DELIVERY_HEADER = "X-Moviedb-Delivery"


def signature(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: str, header: str) -> bool:
    """What a receiver does (README: five lines of Python)."""
    return hmac.compare_digest(signature(body, secret), header)
