"""Logging for the command line and the workers: one format, level from LEDGER_LOG_LEVEL."""
from __future__ import annotations

import logging
import os

# Spyne logs every fault an operation raises, client mistakes included, with a traceback; the
# request log line already names the fault code, and unexpected errors are logged with their
# request id where they are caught.
_QUIETER = {"spyne.application": logging.CRITICAL}


def configure(default_level: str) -> None:
    logging.basicConfig(level=os.environ.get("LEDGER_LOG_LEVEL", default_level).upper(),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s", force=True)
    for name, level in _QUIETER.items():
        logging.getLogger(name).setLevel(level)
