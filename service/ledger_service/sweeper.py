"""A background thread in each worker that tidies the holds of pending entries that expired.

Correctness never waits for it: every read and every write already treats an expired entry's
reservation as released. It only keeps the table of holds small, so that the expired holds a read
subtracts stay few. Any number of workers may run one: each pass skips accounts that another
transaction holds.
"""
from __future__ import annotations

import logging
import random
import threading
import time

from .domain.errors import LedgerError

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_SECONDS = 60.0
ACCOUNTS_PER_PASS = 500


def start(ledger, interval: float) -> threading.Thread | None:
    """Sweeps every `interval` seconds (LEDGER_HOLD_SWEEP_SECONDS); 0 turns the sweeper off."""
    if interval <= 0:
        return None
    thread = threading.Thread(target=_sweep_forever, args=(ledger, interval), name="hold-sweeper", daemon=True)
    thread.start()
    return thread


def _sweep_forever(ledger, interval: float) -> None:
    while True:
        # Jitter keeps the workers of a host from all sweeping at the same moment.
        time.sleep(interval * random.uniform(0.5, 1.5))
        try:
            while ledger.pending.release_expired_holds(ACCOUNTS_PER_PASS) == ACCOUNTS_PER_PASS:
                pass
        except LedgerError as error:  # the database is down; the next pass tries again
            log.warning("releasing expired holds failed: %s", error)
        except Exception:
            log.exception("releasing expired holds failed")
