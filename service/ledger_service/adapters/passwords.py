"""Client passwords as the store keeps them: scrypt hashes, checked in constant time.

scrypt is slow on purpose, so a worker remembers for a while which (client, password) pairs it has
verified against which stored hash. It keeps only an HMAC of the password under a key that lives in
this process's memory, and a changed hash in the database invalidates the memory at once.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import OrderedDict

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
REMEMBER_SECONDS = 300
REMEMBER_AT_MOST = 10_000


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return "$".join(["scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P),
                     base64.b64encode(salt).decode(), base64.b64encode(digest).decode()])


def _matches(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                                dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def generate_password() -> str:
    return secrets.token_urlsafe(24)


class PasswordHashes:
    """The Passwords port (service_layer/ports.py), with this worker's memory of passwords verified."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self._unknown_client = hash_password(secrets.token_urlsafe(16))
        self._verified: OrderedDict[tuple[str, str], tuple[bytes, float]] = OrderedDict()
        self._lock = threading.Lock()

    def hash(self, password: str) -> str:
        return hash_password(password)

    def verify(self, name: str, password: str, stored: str | None) -> bool:
        """Whether `password` matches the `stored` hash. With no stored hash (no such client) the hash is
        computed all the same, so that the time taken does not tell which client names exist."""
        if stored is None:
            _matches(password, self._unknown_client)
            return False
        tag = hmac.new(self._key, password.encode(), hashlib.sha256).digest()
        now = time.monotonic()
        with self._lock:
            remembered = self._verified.get((name, stored))
        if remembered and remembered[1] > now and hmac.compare_digest(remembered[0], tag):
            return True
        if not _matches(password, stored):
            return False
        with self._lock:
            self._verified[(name, stored)] = (tag, now + REMEMBER_SECONDS)
            self._verified.move_to_end((name, stored))
            while len(self._verified) > REMEMBER_AT_MOST:
                self._verified.popitem(last=False)
        return True
