"""Client secrets the server can recover, for PasswordDigest: encrypted under LEDGER_SECRET_KEY.

A PasswordDigest proves knowledge of the password without sending it, so the server must hold the
password itself to recompute the digest. It is kept in `clients.secret_ciphertext` as a Fernet token
(AES-128-CBC with HMAC-SHA256) under a key that lives outside the database: a stolen database alone
reveals no secret. LEDGER_SECRET_KEY holds one or more comma-separated Fernet keys; the first
encrypts, every one decrypts, so a key is rotated by putting a new one first, running
`ledger-service clients rekey`, and then dropping the old one.
"""
from __future__ import annotations

import os

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

KEY_VARIABLE = "LEDGER_SECRET_KEY"


class SecretKeyError(Exception):
    """LEDGER_SECRET_KEY is set but does not hold Fernet keys."""


class SecretBox:
    """The SecretBox port (service_layer/ports.py) on Fernet."""

    def __init__(self, keys: str):
        try:
            fernets = [Fernet(key.strip().encode()) for key in keys.split(",") if key.strip()]
        except ValueError:
            fernets = []
        if not fernets:
            raise SecretKeyError(f"{KEY_VARIABLE} must hold one or more comma-separated Fernet keys "
                                 "(32 url-safe base64-encoded bytes each, as `Fernet.generate_key()` makes)")
        self._fernet = MultiFernet(fernets)
        # Something to decrypt when a client has no secret, so that every attempt takes the same time.
        self._decoy = self._fernet.encrypt(os.urandom(24))

    def encrypt(self, secret: str) -> bytes:
        return self._fernet.encrypt(secret.encode())

    def decrypt(self, ciphertext: bytes | None) -> str | None:
        """The secret, or None when there is none or no key decrypts it (after the same work)."""
        try:
            secret = self._fernet.decrypt(ciphertext or self._decoy)
        except InvalidToken:
            return None
        return secret.decode() if ciphertext else None

    def rekey(self, ciphertext: bytes) -> bytes | None:
        """The same secret encrypted under the first key; None when no key decrypts it."""
        try:
            return self._fernet.rotate(ciphertext)
        except InvalidToken:
            return None
