"""Client passwords as the store keeps them: argon2id hashes (argon2-cffi), checked in constant time.

The parameters are one of the five configurations OWASP's Password Storage Cheat Sheet gives for argon2id
as equally strong: 7 MiB of memory, five passes, one lane. Of those five it is the lightest on memory, which
a worker's peak resident set carries for every hash it runs (the first of them, 19 MiB and two passes,
raised a worker's peak by 19 MiB at each new client's first call, for no less CPU: 27 ms a hash here
against 22 ms). RFC 9106's low-memory profile (64 MiB, three passes, four lanes) costs about five times as
much per login here; one lane keeps one hash on one core.

Hashes written by earlier releases (scrypt, `scrypt$N$r$p$salt$digest`) still verify; `needs_rehash` says
so of them (and of argon2 hashes made with other parameters, such as the 19 MiB ones of the release
before), and the next successful login stores the password hashed anew (service_layer/authentication.py).

Hashing is slow on purpose, so a worker remembers for a while which (client, password) pairs it has
verified against which stored hash, and hashes one password at a time. It keeps only an HMAC of the
password under a key that lives in this process's memory, and a changed hash in the database invalidates
the memory at once.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

ARGON2 = PasswordHasher(time_cost=5, memory_cost=7 * 1024, parallelism=1)
SCRYPT_PREFIX = "scrypt$"
REMEMBER_SECONDS = 300
REMEMBER_AT_MOST = 10_000


def hash_password(password: str) -> str:
    return ARGON2.hash(password)


def _scrypt_matches(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                                dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def _matches(password: str, stored: str) -> bool:
    if stored.startswith(SCRYPT_PREFIX):
        return _scrypt_matches(password, stored)
    try:
        return ARGON2.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.lru_cache(maxsize=REMEMBER_AT_MOST)
def _outdated(stored: str) -> bool:
    """Whether a stored hash is not made as passwords are hashed now (asked on every PasswordText call:
    argon2 parses the hash's parameters each time)."""
    if stored.startswith(SCRYPT_PREFIX):
        return True
    try:
        return ARGON2.check_needs_rehash(stored)
    except InvalidHashError:
        return False


def generate_password() -> str:
    return secrets.token_urlsafe(24)


class PasswordHashes:
    """The Passwords port (service_layer/ports.py), with this worker's memory of passwords verified."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        # What a password is checked against when no client has the name: a hash like every other.
        self._unknown_client = hash_password(secrets.token_urlsafe(16))
        self._verified: OrderedDict[tuple[str, str], tuple[bytes, float]] = OrderedDict()
        self._lock = threading.Lock()
        # One hash at a time in a worker: each takes its 7 MiB, and the threads of a worker share one core's
        # worth of the interpreter anyway; a burst of a new client's first calls then hashes once.
        self._hashing = threading.Lock()

    def hash(self, password: str) -> str:
        return hash_password(password)

    def needs_rehash(self, stored: str) -> bool:
        return _outdated(stored)

    def verify(self, name: str, password: str, stored: str | None) -> bool:
        """Whether `password` matches the `stored` hash. With no stored hash (no such client) the hash is
        computed all the same, so that the time taken does not tell which client names exist."""
        if stored is None:
            with self._hashing:
                _matches(password, self._unknown_client)
            return False
        tag = hmac.new(self._key, password.encode(), hashlib.sha256).digest()
        if self._remembers(name, stored, tag):
            return True
        with self._hashing:
            # Another thread may have verified the same password while this one waited.
            if self._remembers(name, stored, tag):
                return True
            if not _matches(password, stored):
                return False
            with self._lock:
                self._verified[(name, stored)] = (tag, time.monotonic() + REMEMBER_SECONDS)
                self._verified.move_to_end((name, stored))
                while len(self._verified) > REMEMBER_AT_MOST:
                    self._verified.popitem(last=False)
        return True

    def _remembers(self, name: str, stored: str, tag: bytes) -> bool:
        with self._lock:
            remembered = self._verified.get((name, stored))
        return bool(remembered and remembered[1] > time.monotonic() and hmac.compare_digest(remembered[0], tag))
