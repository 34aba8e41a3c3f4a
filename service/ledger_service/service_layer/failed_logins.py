"""The budget of failed authentications, per username and per source address, shared by every worker.

Every failed authentication (a wrong password or digest, an unknown username, a disabled client, a
replayed nonce, a Created outside the window, a certificate not registered, expired or another
client's) takes a token from two token buckets (domain/rate_limits.py): its username's, whether or not
a client has that name, so that an unknown name behaves exactly as a known one in time, text and
budget (a request without a UsernameToken spends its certificate's instead); and its source address's. While either
is empty, a request with that username or from that address is refused with RateLimited before its
password is hashed or its digest computed, whatever the password: a guesser costs the service a
query, not a hash.

The buckets are rows of failed_login_buckets, read by the query that first looks the request's
username up (`_login` in adapters/stores/access.py), so that checking them costs a successful request no
round trip. A failure is counted after its attempt, in a short write transaction of its own that
commits although the request fails. Checking and counting are apart: requests that arrive together
all pass the check before the first of them is counted, so beyond the budget a burst has at most as
many hashes computed as the service runs requests at once, and each of those is counted.
"""
from __future__ import annotations

import functools
import hashlib
import ipaddress
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from ..domain.errors import FaultCode, LedgerError
from ..domain.rate_limits import Bucket, RateLimit, admit
from .ports import AccessStore, FailedLoginBuckets, LoginSubjects

# A client that keeps failing is usually one whose secret was rotated without it, and it is fixed
# within a minute of the new secret reaching it; a guesser gets ten tries a minute at one username.
DEFAULT_PER_USERNAME = RateLimit(per_minute=10, burst=10)
# Enough for a few clients sharing an address (a NAT, a batch host) to fail at once; a guesser's
# address costs the service at most half a password hash a second.
DEFAULT_PER_ADDRESS = RateLimit(per_minute=30, burst=30)
PRUNE_AT_MOST = 100


def _subject(kind: str, value: str) -> str:
    return hashlib.sha256(f"{kind}:{value}".encode(errors="surrogatepass")).hexdigest()


@functools.lru_cache(maxsize=1024)
def budgeted_address(address: str | None) -> str:
    """The address whose budget a request spends: an IPv4 address itself (also when IPv4-mapped), an
    IPv6 one by its /64 network, since one host is commonly given a whole /64 and could otherwise
    take a fresh address for every guess. A peer without an IP address (a Unix socket) is ''. (Every
    request asks, and a client's requests come from few addresses.)"""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return address or ""
    if ip.version == 6 and ip.ipv4_mapped is None:
        return str(ipaddress.ip_network((ip, 64), strict=False))
    return str(ip.ipv4_mapped if ip.version == 6 else ip)


@dataclass(frozen=True)
class FailedLoginBudget:
    per_username: RateLimit = DEFAULT_PER_USERNAME
    per_address: RateLimit = DEFAULT_PER_ADDRESS

    def subjects(self, username: str, address: str | None) -> LoginSubjects:
        return LoginSubjects(_subject("username", username), _subject("address", budgeted_address(address)))

    def certificate_subjects(self, sha256: str, address: str | None) -> LoginSubjects:
        """The buckets of a request that names its client by certificate alone: the certificate's stands
        in for a username's."""
        return LoginSubjects(_subject("certificate", sha256), _subject("address", budgeted_address(address)))

    def ensure_open(self, buckets: FailedLoginBuckets, now: datetime) -> None:
        """Refuses the request with RateLimited while its username's or its address's budget is spent,
        saying when the longer wait ends."""
        waits = {
            what: admit(limit, bucket, now).retry_after
            for what, limit, bucket in (("for this username", self.per_username, buckets.username),
                                        ("from this address", self.per_address, buckets.address))
        }
        spent = {what: wait for what, wait in waits.items() if wait is not None}
        if spent:
            what = max(spent, key=spent.__getitem__)
            raise LedgerError(FaultCode.RateLimited,
                              f"too many failed authentications {what}; retry after {spent[what]} s",
                              retry_after=spent[what])

    def count_failure(self, store: AccessStore, subjects: LoginSubjects, clock: Callable[[], datetime]) -> None:
        """Takes a token from both buckets (an empty one stays empty), and prunes buckets full again.
        The clock is read once the buckets are locked: of failures counted at the same time, each then
        sees the time of the one counted before it, or later."""
        limits = {subjects.username: self.per_username, subjects.address: self.per_address}
        before = clock()
        buckets = store.failed_login_buckets_for_update(
            {subject: Bucket.full(limit, before) for subject, limit in limits.items()})
        now = clock()
        store.save_failed_login_buckets({subject: admit(limit, buckets[subject], now).bucket
                                         for subject, limit in limits.items()})
        store.prune_failed_login_buckets(now - max(self.per_username.time_to_fill, self.per_address.time_to_fill),
                                         PRUNE_AT_MOST)
