"""The bare Spyne ceiling of a read: a minimal Spyne application (SOAP 1.1, one operation, GetBalance of an
account, its envelope validated by lxml) whose handler runs one indexed SELECT on PostgreSQL, served by
gunicorn's sync workers. No authentication, no domain, no per-request log: what a SOAP read costs at
all on this machine, the figure the service's GetBalance is held to.

gunicorn loads `bare_spyne:application` in each worker; BareSpyneServer runs it. The accounts it reads
are the minimal schema's (ceilings.py), at LEDGER_DATABASE_URL.
"""
from __future__ import annotations

import os
import sys
from decimal import Decimal
from pathlib import Path

import psycopg

import ledger_service  # noqa: F401  (lets Spyne import on Python 3.12 and later)
from spyne import Application, ServiceBase, Unicode, rpc
from spyne import Decimal as SoapDecimal
from spyne.protocol.soap import Soap11
from spyne.server.wsgi import WsgiApplication

from throughput import TNS, GunicornServer

_connection: psycopg.Connection | None = None


def connection() -> psycopg.Connection:
    """The worker's one connection, opened on its first request (after gunicorn forked it)."""
    global _connection
    if _connection is None:
        _connection = psycopg.connect(os.environ["LEDGER_DATABASE_URL"], autocommit=True)
    return _connection


class BareLedger(ServiceBase):
    @rpc(Unicode, Unicode, _returns=SoapDecimal)
    def GetBalance(ctx, book, account):  # noqa: N802, N805 (the operation's name; Spyne passes the context)
        balance = connection().execute("SELECT balance FROM accounts WHERE code = %s", (account,)).fetchone()[0]
        return Decimal(balance).scaleb(-2)


soap = WsgiApplication(Application([BareLedger], tns=TNS, name="BareLedger", in_protocol=Soap11(validator="lxml"),
                                   out_protocol=Soap11()))


def application(environ, start_response):
    """The SOAP endpoint on every path but /healthz, which GunicornServer waits for."""
    if environ.get("PATH_INFO") == "/healthz":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
        return [b"ok\n"]
    return soap(environ, start_response)


class BareSpyneServer(GunicornServer):
    def command(self) -> list[str]:
        return [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers),
                "--worker-class", "sync", "--pythonpath", str(Path(__file__).resolve().parent),
                "bare_spyne:application"]
