"""WS-Security UsernameToken PasswordDigest: Base64(SHA-1(nonce + created + password)), the one place the
formula is written (the service checks digests with it; the fixtures and the tests make them with it).

This module is the PasswordDigests port (service_layer/ports.py); service_layer/authentication.py checks
a token's Created window, spends its nonce and counts its failures.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime, timezone

_DATETIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?")


def password_digest(nonce: bytes, created: str, password: str) -> str:
    return base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest()).decode()


def created_at(created: str | None) -> datetime | None:
    """An xs:dateTime as an aware datetime (UTC when it names no zone), or None."""
    match = _DATETIME.fullmatch(created or "")
    if match is None:
        return None
    whole, fraction, zone = match.groups()
    try:
        moment = datetime.fromisoformat(whole + (f".{fraction[:6]:0<6}" if fraction else ""))
        offset = timezone.utc if zone in (None, "Z") else datetime.strptime(zone.replace(":", ""), "%z").tzinfo
    except ValueError:
        return None
    return moment.replace(tzinfo=offset).astimezone(timezone.utc)


def matches(nonce: bytes, created: str, digest: str, password: str | None) -> bool:
    """Whether `digest` (as the token carried it) is the digest of `password`; computed and compared in
    constant time even without a password, so that a client with no secret takes as long as one with."""
    expected = password_digest(nonce, created, password or "")
    return hmac.compare_digest(expected.encode(), digest.strip().encode()) and password is not None
