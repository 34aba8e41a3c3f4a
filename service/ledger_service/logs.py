"""Logging for the command line, the service's workers and its gunicorn master: one JSON object per line
on stderr, at the level LEDGER_LOG_LEVEL names (docs/operations.md, "Logs").

Each line holds `time` (UTC), `level`, `logger`, `message`, `process`, the `request_id` of the request
being served when there is one, the fields a caller passes in `extra`, and a traceback in `exception`.
Python warnings and exceptions nobody caught, in any thread, are logged the same way. Of a database error
a line says only what `error_summary` says (its class, SQLSTATE and constraint), never the text the
database wrote: PostgreSQL's DETAIL quotes the values of the row, which are the clients' data.
"""
from __future__ import annotations

import json
import logging
import sys
import threading
import traceback
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Iterator

from .adapters.database import DATABASE_ERRORS, error_summary

# Spyne announces at INFO each Application it builds, which says nothing to an operator: the service
# builds two a worker at start-up only to describe its operations (wsgi.spyne_application), and
# nothing of Spyne runs a request, so its loggers have nothing else to say.
_QUIETER = {"spyne.application": logging.WARNING}
# What every LogRecord carries; anything else on a record came in `extra` and becomes a field.
_RECORD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_CHAINED = {True: "\nThe above exception was the direct cause of the following exception:\n\n",
            False: "\nDuring handling of the above exception, another exception occurred:\n\n"}
_request_id: ContextVar[str | None] = ContextVar("ledger_request_id", default=None)
log = logging.getLogger(__name__)


@contextmanager
def serving(request_id: str) -> Iterator[None]:
    """While a request is served, each line its thread logs names its request id."""
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)


def _chain(error: BaseException) -> list[BaseException]:
    """`error` and the exceptions it was raised from or while handling, the first raised first."""
    chain: list[BaseException] = []
    while error is not None and not any(error is seen for seen in chain):
        chain.append(error)
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    return chain[::-1]


def format_exception(error: BaseException) -> str:
    """A traceback as Python prints it, except that a database error shows its summary for its message."""
    chain = _chain(error)
    parts = []
    for position, link in enumerate(chain):
        if position:
            parts.append(_CHAINED[link.__cause__ is chain[position - 1]])
        if link.__traceback__ is not None:
            parts.append("Traceback (most recent call last):\n")
            parts.extend(traceback.format_tb(link.__traceback__))
        message = json.dumps(error_summary(link)) if isinstance(link, DATABASE_ERRORS) else str(link)
        kind, module = type(link).__qualname__, type(link).__module__
        if module not in ("builtins", "__main__"):
            kind = f"{module}.{kind}"
        parts.append(f"{kind}: {message}\n" if message else f"{kind}\n")
    return "".join(parts).rstrip("\n")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
            "process": record.process,
        }
        request_id = _request_id.get()
        if request_id:
            entry["request_id"] = request_id
        entry.update((key, value) for key, value in vars(record).items() if key not in _RECORD_ATTRIBUTES)
        if record.exc_info and record.exc_info[1] is not None:
            entry["exception"] = format_exception(record.exc_info[1])
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, default=str)


def _log_uncaught(kind, error, trace) -> None:
    log.critical("uncaught %s", kind.__name__, exc_info=(kind, error, trace))


def _log_uncaught_in_thread(uncaught: threading.ExceptHookArgs) -> None:
    if uncaught.exc_type is not SystemExit:
        name = uncaught.thread.name if uncaught.thread else "?"
        log.error("uncaught %s in thread %s", uncaught.exc_type.__name__, name,
                  exc_info=(uncaught.exc_type, uncaught.exc_value, uncaught.exc_traceback))


def configure(level: str) -> None:
    """Every logger of the process writes JSON lines on stderr from `level` up (LEDGER_LOG_LEVEL, or the
    process's own default)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    for name, level in _QUIETER.items():
        logging.getLogger(name).setLevel(level)
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread
