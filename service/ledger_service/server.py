"""Gunicorn, started from `ledger-service serve`: each worker builds its own application (and its own
database pool) after the fork."""
from __future__ import annotations

import gc
import os

from gunicorn.app.base import BaseApplication

from .logs import configure


class _Gunicorn(BaseApplication):
    def __init__(self, options: dict):
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from . import sweeper
        from .wsgi import create_app

        configure("INFO")
        app = create_app()
        sweeper.start(app.ledger, sweeper.interval_from_environment())
        # What the app holds from here on lives as long as the worker: keep it out of every
        # future collection's scan.
        gc.freeze()
        return app


def run(bind: str, workers: int) -> None:
    _Gunicorn({
        "bind": bind,
        "workers": workers,
        "worker_class": "gthread",
        "threads": int(os.environ.get("LEDGER_THREADS", "2")),
        "timeout": 60,
        "graceful_timeout": 30,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": os.environ.get("LEDGER_LOG_LEVEL", "info").lower(),
    }).run()
