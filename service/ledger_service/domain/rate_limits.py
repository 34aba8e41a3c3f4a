"""Per-client rate limits as token buckets, in integers only.

A bucket holds up to `burst` requests' worth of tokens and refills continuously at `per_minute`
tokens a minute; each request takes one. Tokens are counted in thousandths (milli-tokens) and time
in microseconds, all integers. A refill moves the bucket's clock on only by the time the milli-tokens
it gained took (rounded up), so the fraction of a milli-token still under way is kept for the next
request: however often requests come, each loses at most a microsecond of refill, and none is given
away.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

MILLI = 1000  # milli-tokens in one request's token
MICROSECONDS_PER_MINUTE = 60_000_000
# One milli-token takes 60_000_000 / (per_minute * 1000) microseconds to come back.
_MICROSECONDS_PER_MINUTE_PER_MILLI = MICROSECONDS_PER_MINUTE // MILLI


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def _microseconds(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@dataclass(frozen=True)
class RateLimit:
    """`per_minute` requests a minute sustained, up to `burst` at once."""

    per_minute: int
    burst: int

    def __post_init__(self) -> None:
        if self.per_minute < 1 or self.burst < 1:
            raise ValueError(f"a rate limit needs a positive rate and burst, not {self}")

    @property
    def capacity(self) -> int:
        return self.burst * MILLI

    @property
    def time_to_fill(self) -> timedelta:
        """How long an empty bucket takes to fill: a bucket left alone that long is full."""
        return timedelta(microseconds=_ceil_div(self.capacity * _MICROSECONDS_PER_MINUTE_PER_MILLI, self.per_minute))

    def __str__(self) -> str:
        rate = f"{self.per_minute // 60}/s" if self.per_minute % 60 == 0 else f"{self.per_minute}/min"
        return f"{rate} burst {self.burst}"


@dataclass(frozen=True)
class Bucket:
    milli_tokens: int
    refilled_at: datetime

    @classmethod
    def full(cls, limit: RateLimit, now: datetime) -> "Bucket":
        return cls(limit.capacity, now)

    def refilled(self, limit: RateLimit, now: datetime) -> "Bucket":
        """The bucket at `now`. A clock that went backwards (another host's) refills nothing."""
        elapsed = max(0, _microseconds(now - self.refilled_at))
        gained = elapsed * limit.per_minute // _MICROSECONDS_PER_MINUTE_PER_MILLI
        if self.milli_tokens + gained >= limit.capacity:
            return Bucket(limit.capacity, now)
        # Never more than `elapsed`: `gained` was rounded down.
        took = _ceil_div(gained * _MICROSECONDS_PER_MINUTE_PER_MILLI, limit.per_minute)
        return Bucket(self.milli_tokens + gained, min(now, self.refilled_at + timedelta(microseconds=took)))


@dataclass(frozen=True)
class Admission:
    """The outcome of one request: the bucket to store if it was let in, else whole seconds to wait."""

    bucket: Bucket
    retry_after: int | None = None

    @property
    def admitted(self) -> bool:
        return self.retry_after is None


def admit(limit: RateLimit, bucket: Bucket | None, now: datetime) -> Admission:
    """Takes one token from the client's bucket (a missing bucket is full), or says how long until one
    is back: at least a second, rounded up, so that a caller waiting that long finds its token."""
    current = bucket.refilled(limit, now) if bucket is not None else Bucket.full(limit, now)
    if current.milli_tokens >= MILLI:
        return Admission(Bucket(current.milli_tokens - MILLI, current.refilled_at))
    missing = MILLI - current.milli_tokens
    due = current.refilled_at + timedelta(
        microseconds=_ceil_div(missing * _MICROSECONDS_PER_MINUTE_PER_MILLI, limit.per_minute))
    return Admission(current, max(1, _ceil_div(_microseconds(due - now), 1_000_000)))
