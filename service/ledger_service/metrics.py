"""/metrics in Prometheus text: requests, their latency and their faults per operation, the database
connection pool's use and who served the reads offered to a standby, summed over every gunicorn worker of
the host; and the standby's lag, as the worker answering the scrape reads it.

Each worker writes its counters to files in one directory (prometheus_client's multiprocess mode),
which the master makes empty at start-up (`empty_directory`) and from which it drops a worker that exits
(`child_exit`); a scrape answered by any worker reads them all. Without that directory (the app run
on its own), the figures are the one process's. prometheus_client is imported only once the
directory is known: it picks its mode when first imported.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
NO_OPERATION = "none"


def empty_directory(configured: Path | None) -> None:
    """In gunicorn's master before it forks (its on_starting hook): an empty directory for this run's
    metrics, `configured` (LEDGER_METRICS_DIR) or a fresh temporary one."""
    if configured is not None:
        directory = configured
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
    else:
        directory = Path(tempfile.mkdtemp(prefix="soap-ledger-metrics-"))
    os.environ[DIRECTORY_VARIABLE] = str(directory)


def child_exit(server, worker) -> None:
    """gunicorn hook: a worker that exited counts no more in the live gauges."""
    if os.environ.get(DIRECTORY_VARIABLE):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


class Metrics:
    """One process's instruments. Build it after the fork (in the worker)."""

    def __init__(self):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
        from prometheus_client import multiprocess

        self.registry = CollectorRegistry()
        if os.environ.get(DIRECTORY_VARIABLE):
            # The instruments write their files; a scrape reads every worker's.
            multiprocess.MultiProcessCollector(self.registry)
            own = None
        else:
            own = self.registry
        self.requests = Counter("ledger_requests_total", "SOAP requests answered, by operation and HTTP status",
                                ["operation", "status"], registry=own)
        self.latency = Histogram("ledger_request_duration_seconds", "Time to answer a SOAP request, by operation",
                                 ["operation"], buckets=LATENCY_BUCKETS, registry=own)
        self.faults = Counter("ledger_faults_total", "SOAP faults answered, by operation and LedgerFault code",
                              ["operation", "code"], registry=own)
        self.standby_reads = Counter("ledger_standby_reads_total", "Reads offered to the standby, by who served "
                                     "them (standby; primary_lagging: the standby had not replayed the client's "
                                     "writes in time; primary_standby_down)", ["served_by"], registry=own)
        self.connections = Gauge("ledger_database_connections", "Database connections of the workers' pools, "
                                 "by state (in_use: lent to a request or a background pass; open: in the pool or lent)",
                                 ["state"], multiprocess_mode="livesum", registry=own)

    def observe(self, operation: str | None, status: int, fault: str | None, seconds: float) -> None:
        operation = operation or NO_OPERATION
        self.requests.labels(operation, str(status)).inc()
        self.latency.labels(operation).observe(seconds)
        if fault:
            self.faults.labels(operation, fault).inc()

    def watch_pool(self, engine) -> None:
        """Keeps the connection gauges as SQLAlchemy's pool opens, lends, takes back and closes connections."""
        from sqlalchemy import event

        in_use, opened = self.connections.labels("in_use"), self.connections.labels("open")
        event.listen(engine, "connect", lambda *_: opened.inc())
        event.listen(engine, "close", lambda *_: opened.dec())
        event.listen(engine, "checkout", lambda *_: in_use.inc())
        event.listen(engine, "checkin", lambda *_: in_use.dec())

    def watch_standby(self, standby) -> None:
        standby.observe = lambda served_by: self.standby_reads.labels(served_by).inc()

    def text(self, standby_lag: dict | None = None) -> tuple[bytes, str]:
        """The metrics; with `standby_lag` (adapters/standby.py, Standby.lag), the standby's gauges too."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry) + _standby_gauges(standby_lag), CONTENT_TYPE_LATEST


def _standby_gauges(lag: dict | None) -> bytes:
    """The standby's state as gauges, measured for this scrape (a figure the standby cannot give is left out)."""
    if lag is None:
        return b""
    gauges = [("ledger_standby_up", "1 while the standby answers", int(lag["up"])),
              ("ledger_standby_lag_bytes", "WAL the primary wrote that the standby has not replayed", lag["lag_bytes"]),
              ("ledger_standby_replay_age_seconds", "Seconds since the last transaction the standby replayed was "
               "committed on the primary (grows while the primary is idle)", lag["replay_age_seconds"])]
    lines = []
    for name, help_text, value in gauges:
        if value is not None:
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {value}"]
    return ("\n".join(lines) + "\n").encode()
