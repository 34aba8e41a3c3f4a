"""What one PostEntries request allocates: the service's WSGI application (ledger_service.wsgi) answering it
in this process, with no HTTP server, and the peak of what Python allocated meanwhile as tracemalloc traces
it. Memory that C libraries allocate themselves (libxml2's trees, libpq's buffers) is not traced: the
workers' peak resident set (lifecycle.WorkerMemory) holds those."""
from __future__ import annotations

import logging
import tracemalloc
from typing import Callable

from ledger_service.serving.application import call, environ_of
from ledger_service.settings import Settings
from ledger_service.wsgi import LedgerApplication

from throughput import CONTENT_TYPE, SOAP_PATH

log = logging.getLogger(__name__)
CLIENT, SERVER = ("127.0.0.1", 40000), ("127.0.0.1", 80)


def answer(application: LedgerApplication, body: bytes) -> tuple[int, bytes]:
    """The HTTP status and body the application answers `body` with, posted to the SOAP 1.1 endpoint."""
    headers = [(b"Host", b"127.0.0.1"), (b"Content-Type", CONTENT_TYPE.encode())]
    status, _, content = call(application, environ_of(b"POST", SOAP_PATH.encode(), b"1.1", headers, body,
                                                      CLIENT, SERVER), log)
    return int(status[:3]), content


def peak_allocation_mib(environment: dict[str, str], warm_up: bytes, measured: bytes,
                        check: Callable[[int, bytes], None]) -> float:
    """MiB: the peak of Python's allocations while an application built from the LEDGER_* `environment`
    answers `measured`, after it answered `warm_up` untraced (its first request builds what the later ones
    reuse). `check(status, content)` raises when an answer is not the success expected."""
    application = LedgerApplication(Settings.from_environment(environment))
    try:
        check(*answer(application, warm_up))
        tracemalloc.start()
        try:
            check(*answer(application, measured))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    finally:
        application.database.dispose()
    return peak / 2**20
