"""The WSGI application: both SOAP endpoints, /docs, /metrics, /healthz, and a request id on every
response. (gunicorn writes each request's log line: server.JsonAccessLog.)"""
from __future__ import annotations

import json
import re
import time
import uuid

from spyne import Application
from spyne.protocol.soap import Soap11, Soap12

from .adapters.database import Database
from .metrics import Metrics
from .service_layer.failed_logins import FailedLoginBudget
from .service_layer.secret_box import SecretBox
from .service_layer.services import Ledger
from .soap import docs
from .soap.contract import ENDPOINTS, Contract, build_contract
from .soap.envelope import Limits
from .soap.environ_keys import FAULT_CODE, OPERATION, REQUEST_ID
from .soap.faults import SOAP11_ENV, SOAP12_ENV
from .soap.gateway import SoapEndpoint
from .soap.operations import LedgerService
from .soap.types import NAMESPACE

_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._\-]{1,64}")
PROTOCOLS = {"soap11": (Soap11, SOAP11_ENV), "soap12": (Soap12, SOAP12_ENV)}


def spyne_application(binding: str) -> Application:
    """The operations as Spyne describes them on one binding, from which its WSDL is written."""
    protocol = PROTOCOLS[binding][0]
    return Application([LedgerService], tns=NAMESPACE, name="Ledger", in_protocol=protocol(),
                       out_protocol=protocol())


def contracts() -> dict[str, Contract]:
    """The WSDL of each binding, as the service serves it and as wsdl/ holds it."""
    return {binding: build_contract(spyne_application(binding), path) for binding, path in ENDPOINTS.items()}


class LedgerApplication:
    def __init__(self, database: Database | None = None, limits: Limits | None = None):
        self.database = database or Database()
        self.ledger = Ledger(self.database, secret_box=SecretBox.from_environment(),
                             failed_logins=FailedLoginBudget.from_environment())
        limits = limits or Limits.from_environment()
        built = {binding: (spyne_application(binding), path) for binding, path in ENDPOINTS.items()}
        served = {binding: build_contract(app, path) for binding, (app, path) in built.items()}
        self.routes = {path: SoapEndpoint(app, served[binding], PROTOCOLS[binding][1], self.ledger, limits)
                       for binding, (app, path) in built.items()}
        self.docs = docs.render(served)
        self.metrics = Metrics()
        self.metrics.watch_pool(self.database.engine)

    def __call__(self, environ: dict, start_response):
        started = time.perf_counter()
        offered = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = offered if _CLIENT_REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex
        environ[REQUEST_ID] = request_id
        status_seen = []

        def start(status, headers, exc_info=None):
            status_seen.append(status)
            return start_response(status, headers + [("X-Request-Id", request_id)], exc_info)

        path = environ.get("PATH_INFO", "")
        endpoint = self.routes.get(path.rstrip("/") or path)
        if endpoint is None:
            return self._other(path, environ, start)
        try:
            return endpoint(environ, start)
        finally:
            self.metrics.observe(environ.get(OPERATION), int(status_seen[0][:3]) if status_seen else 500,
                                 environ.get(FAULT_CODE), time.perf_counter() - started)

    def _other(self, path: str, environ, start):
        """What is not a SOAP endpoint: the reference, the metrics, the health check."""
        if path.rstrip("/") == "/docs" and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            start("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(self.docs))),
                             ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")])
            return [self.docs]
        if path == "/metrics":
            body, content_type = self.metrics.text()
            start("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
            return [body]
        if path == "/healthz":
            healthy = self.database.ping()
            body = json.dumps({"status": "ok" if healthy else "unavailable"}).encode()
            start("200 OK" if healthy else "503 Service Unavailable",
                  [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        body = f"no such resource; the SOAP endpoints are {', '.join(ENDPOINTS.values())}\n".encode()
        start("404 Not Found", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
        return [body]


def create_app() -> LedgerApplication:
    """Gunicorn's entry point (`ledger_service.wsgi:create_app()`)."""
    return LedgerApplication()
