"""Opaque page tokens: the keyset cursor of the last row served, signed so that no caller can forge one.

A token is bound to the query that made it, so it cannot be replayed against another account or
date range, and it carries the running balance at its cursor, so page 10,000 is served with one
index range scan, like page 1. This module is the PageTokens port (service_layer/ports.py).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json

from ..domain.errors import FaultCode, LedgerError

_SIGNATURE_BYTES = 16


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(key: bytes, query: dict, cursor: dict) -> str:
    payload = json.dumps({"q": query, "c": cursor}, separators=(",", ":"), sort_keys=True).encode()
    signature = hmac.new(key, payload, hashlib.sha256).digest()[:_SIGNATURE_BYTES]
    return f"{_b64(payload)}.{_b64(signature)}"


def decode(key: bytes, query: dict, token: str) -> dict:
    """The cursor inside `token`; SchemaValidation unless this server made it for this very query."""
    try:
        payload_text, signature_text = token.split(".")
        payload = _unb64(payload_text)
        signature = _unb64(signature_text)
        valid = hmac.compare_digest(hmac.new(key, payload, hashlib.sha256).digest()[:_SIGNATURE_BYTES], signature)
        content = json.loads(payload) if valid else None
    except (ValueError, TypeError):
        content = None
    if content is None or content.get("q") != query:
        raise LedgerError(FaultCode.SchemaValidation,
                          "pageToken was not issued for this query; start again without a pageToken", ("pageToken",))
    return content["c"]
