"""When a failed call is tried again, and after how long.

A call is retried only where trying again cannot do twice what was asked once. Every operation is
idempotent but CreateBook and OpenAccount: reads change nothing, posts carry a reference (the same
content returns the entry first posted), a commit or void repeated has the same outcome, a reversal
carries its own reference, closing an account or a period again changes nothing. So an idempotent
call is retried after any transport failure, a lost connection included, even when the service may
have done the work before the answer was lost; CreateBook and OpenAccount only where the request
surely never reached the service; a proxy's 502 (its upstream took the request and closed without
an answer) is such a lost answer too. Every call is retried after Unavailable (the database did not
answer, so nothing was written) and RateLimited (nothing was done; it waits as long as the service
asks, up to `longest_wait`).
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from .errors import LedgerError, RateLimited, TransportError, Unavailable

NOT_IDEMPOTENT = frozenset({"CreateBook", "OpenAccount"})
# The HTTP status of a proxy whose upstream took the request and never answered it.
LOST_ANSWER = 502


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` in all (1: never retry); waits grow from `backoff` seconds, doubling, with jitter,
    to at most `longest_wait`."""

    attempts: int = 4
    backoff: float = 0.25
    longest_wait: float = 30.0

    def wait_before(self, attempt: int, error: Exception, operation: str) -> float | None:
        """Seconds to wait before attempt number `attempt` (2, 3, ...) after `error`; None: give up."""
        if attempt > self.attempts or not self._retryable(error, operation):
            return None
        if isinstance(error, RateLimited) and error.retry_after is not None:
            return error.retry_after if error.retry_after <= self.longest_wait else None
        return min(self.longest_wait, self.backoff * 2 ** (attempt - 2) * random.uniform(0.5, 1.5))

    @staticmethod
    def _retryable(error: Exception, operation: str) -> bool:
        if isinstance(error, (Unavailable, RateLimited)):
            return True
        if isinstance(error, LedgerError):
            return False
        if isinstance(error, TransportError):
            if error.status is not None and error.status not in (LOST_ANSWER, 503):
                return False
            return operation not in NOT_IDEMPOTENT or not error.sent or error.status == 503
        return False
