"""WS-Security UsernameToken PasswordDigest: Base64(SHA-1(nonce + created + password)).

A digest is checked, and its nonce spent, in a short write transaction of its own before the use
case's transaction begins: the nonce stays spent even when the use case then fails or only reads,
and every worker on every host sees it in `seen_nonces`. A nonce is kept until its Created time has
left the window (plus a margin for hosts whose clocks differ a little), then pruned. The lookup
also reads the request's failed-login budgets (failed_logins.py), refused before anything is computed
once they are spent; a failure here is counted where every failure is, by the use case.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime, timedelta, timezone
from typing import Callable

from .failed_logins import FailedLoginBudget, LoginSubjects
from .secret_box import SecretBox

WINDOW = timedelta(minutes=5)
CLOCK_SKEW = timedelta(minutes=1)
PRUNE_AT_MOST = 100
_DATETIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?")


def parse_created(text: str | None) -> datetime | None:
    """An xs:dateTime as an aware datetime (UTC when it names no zone), or None."""
    match = _DATETIME.fullmatch(text or "")
    if match is None:
        return None
    whole, fraction, zone = match.groups()
    try:
        moment = datetime.fromisoformat(whole + (f".{fraction[:6]:0<6}" if fraction else ""))
        offset = timezone.utc if zone in (None, "Z") else datetime.strptime(zone.replace(":", ""), "%z").tzinfo
    except ValueError:
        return None
    return moment.replace(tzinfo=offset).astimezone(timezone.utc)


def password_digest(nonce: bytes, created: str, password: str) -> str:
    return base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest()).decode()


def nonce_key(username: str, nonce: bytes) -> str:
    """What `seen_nonces` keeps of a nonce: bounded in size, and one client's nonce never spends another's."""
    return hashlib.sha256(len(nonce).to_bytes(4, "big") + nonce + username.encode()).hexdigest()


class DigestVerifier:
    def __init__(self, database, box: SecretBox | None, clock: Callable[[], datetime],
                 failed_logins: FailedLoginBudget):
        self.database = database
        self.box = box
        self.clock = clock
        self.failed_logins = failed_logins

    def admit(self, credentials, login: LoginSubjects | None) -> int | None:
        """The id of the client whose PasswordDigest this is, once its nonce is spent; None for any failure
        (the use case counts it against the `login` budgets). RateLimited while they are spent."""
        if credentials is None or credentials.password_type != "PasswordDigest" or self.box is None:
            return None
        now = self.clock()
        created = parse_created(credentials.created)
        if created is None or not credentials.nonce or abs(now - created) > WINDOW:
            return None
        box = self.box

        def work(store) -> int | None:
            found, failed_logins = store.client_secret(credentials.username, login.username, login.address)
            # Before the digest is computed: a spent budget is refused whatever the digest.
            self.failed_logins.ensure_open(failed_logins, now)
            # Decrypt and digest whatever was found, so that unknown clients take as long as known ones.
            secret = box.decrypt(found[1] if found else None)
            expected = password_digest(credentials.nonce, credentials.created, secret or "")
            if found is None or secret is None or not hmac.compare_digest(
                    expected.encode(), credentials.password.strip().encode()):
                return None
            if not store.spend_nonce(nonce_key(credentials.username, credentials.nonce),
                                     created + WINDOW + CLOCK_SKEW):
                return None  # a replay
            store.prune_nonces(now, PRUNE_AT_MOST)
            return found[0]

        return self.database.run(work, write=True)
