"""gunicorn, as `ledger-service serve` runs it: with deploy/gunicorn.conf.py (carried in the package as
gunicorn.conf.py), bind and workers from the command line over it; and what that file names: the
master's settings, the logger (every line of the master and the workers JSON, logs.py, and each
request's line) and each worker's start."""
from __future__ import annotations

import gc
import logging
import sys
from pathlib import Path

from gunicorn import glogging
from gunicorn.app.base import Application

from . import sweeper
from .logs import JsonFormatter, configure
from .settings import Settings, SettingError
from .soap.environ_keys import CLIENT, CLIENT_ADDRESS, CLIENT_CERTIFICATE, FAULT_CODE, OPERATION, REQUEST_ID, SIGNER

CONFIG = Path(__file__).with_name("gunicorn.conf.py")
log = logging.getLogger(__name__)
requests_log = logging.getLogger("ledger_service.requests")


class JsonAccessLog(glogging.Logger):
    """gunicorn's logger: its own messages (gunicorn.error) as JSON lines where gunicorn's settings send
    them, every other logger's the same way (logs.configure, which forked workers inherit), and each
    request as one line of the ledger_service.requests logger."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        configure(cfg.loglevel)  # LEDGER_LOG_LEVEL, or INFO (deploy/gunicorn.conf.py)
        for handler in (*self.error_log.handlers, *self.access_log.handlers):
            handler.setFormatter(JsonFormatter())

    def access(self, resp, req, environ, request_time):
        requests_log.info("request", extra={
            "request_id": environ.get(REQUEST_ID), "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"), "client": environ.get(CLIENT), "operation": environ.get(OPERATION),
            "status": resp.status_code, "fault": environ.get(FAULT_CODE),
            "ms": round(request_time.total_seconds() * 1000, 2), "address": environ.get(CLIENT_ADDRESS),
            "certificate": environ.get(CLIENT_CERTIFICATE), "signer": environ.get(SIGNER),
        })


def settings_or_exit() -> Settings:
    """The settings, read as the process starts the service (gunicorn's master, as it reads its
    configuration): a malformed one stops it here, in one JSON line naming the variable, before it
    listens, rather than in a traceback or in every worker failing to boot."""
    try:
        return Settings.from_environment()
    except SettingError as malformed:
        configure("INFO")
        log.error("%s", malformed)
        sys.exit(1)


def post_worker_init(worker) -> None:
    app = worker.wsgi
    sweeper.start(app.ledger, app.settings.hold_sweep_seconds, app.settings.journal_seal_seconds)
    # What the app holds from here on lives as long as the worker: keep it out of every future
    # collection's scan.
    gc.freeze()


class _Gunicorn(Application):
    def __init__(self, overrides: dict):
        self.overrides = overrides
        super().__init__()

    def init(self, parser, opts, args):
        return None

    def load_config(self):
        self.load_config_from_file(str(CONFIG))
        for key, value in self.overrides.items():
            self.cfg.set(key, value)

    def load(self):
        from gunicorn.util import import_app

        return import_app(self.cfg.wsgi_app)


def run(bind: str | None, workers: int | None) -> None:
    _Gunicorn({key: value for key, value in (("bind", bind), ("workers", workers)) if value is not None}).run()
