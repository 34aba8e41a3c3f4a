"""Background threads of each worker, none of which correctness waits for.

The hold sweeper tidies the holds of pending entries that expired: every read and every write already
treats an expired entry's reservation as released; sweeping only keeps the table of holds small, so
that the expired holds a read subtracts stay few. Each pass skips accounts that another transaction
holds.

The journal sealer seals the records that changes queued (on PostgreSQL) onto their books' chains,
so that a record stays unsealed for about one interval at most while any worker runs; a read of a
book's journal seals what is queued for it first anyway (service_layer/journal.py).

Any number of workers on any number of hosts may run both.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from typing import Callable

from .domain.errors import LedgerError

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_SECONDS = 60.0
DEFAULT_SEAL_INTERVAL_SECONDS = 1.0
ACCOUNTS_PER_PASS = 500


def start(ledger, hold_sweep_seconds: float, journal_seal_seconds: float) -> None:
    """Sweeps holds every `hold_sweep_seconds` (LEDGER_HOLD_SWEEP_SECONDS) and seals queued journal
    records every `journal_seal_seconds` (LEDGER_JOURNAL_SEAL_SECONDS); 0 turns either off."""
    def sweep_holds() -> None:
        while ledger.pending.release_expired_holds(ACCOUNTS_PER_PASS) == ACCOUNTS_PER_PASS:
            pass

    _every(hold_sweep_seconds, "releasing expired holds", sweep_holds)
    _every(journal_seal_seconds, "sealing queued journal records", ledger.journal.seal_queued)


def _every(interval: float, job: str, one_pass: Callable[[], object]) -> None:
    if interval <= 0:
        return

    def forever() -> None:
        while True:
            # Jitter keeps the workers of a host from all running a pass at the same moment.
            time.sleep(interval * random.uniform(0.5, 1.5))
            try:
                one_pass()
            except LedgerError as error:  # the database is down; the next pass tries again
                log.warning("%s failed: %s", job, error)
            except Exception:
                log.exception("%s failed", job)

    threading.Thread(target=forever, name=job, daemon=True).start()
