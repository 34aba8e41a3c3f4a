"""What an operator types on the command line or in a setting: grants (BOOK:ROLE) and rate limits (N/s,
N/min), read into domain values, or refused in a sentence."""
from __future__ import annotations

from dataclasses import dataclass

from ..domain.access import Role
from ..domain.rate_limits import RateLimit

RATE_UNITS = {"s": 60, "min": 1}  # requests per unit, to requests per minute
RATE_PER_MINUTE_MAX = 6_000_000
BURST_MAX = 1_000_000


class AdminError(Exception):
    """An operator's request that cannot be carried out, said in a sentence."""


@dataclass(frozen=True)
class Grant:
    book: str
    role: Role

    @classmethod
    def parse(cls, text: str) -> "Grant":
        book, _, role = text.partition(":")
        if not book or role not in Role.__members__:
            raise AdminError(f"{text!r} is not BOOK:ROLE with ROLE one of {', '.join(Role.__members__)}")
        return cls(book, Role[role])


def parse_rate_limit(rate: str, burst: int | None = None) -> RateLimit:
    """`N/s` or `N/min`, and a burst (default: one second's worth of requests, at least one)."""
    count, _, unit = rate.partition("/")
    per_minute = int(count) * RATE_UNITS[unit] if count.isascii() and count.isdigit() and unit in RATE_UNITS else 0
    if not 1 <= per_minute <= RATE_PER_MINUTE_MAX:
        raise AdminError(f"{rate!r} is not a rate: say N/s or N/min, from 1/min to {RATE_PER_MINUTE_MAX}/min")
    if burst is None:
        burst = max(1, -(-per_minute // 60))
    if not 1 <= burst <= BURST_MAX:
        raise AdminError(f"the burst is 1 to {BURST_MAX} requests, not {burst}")
    return RateLimit(per_minute, burst)
