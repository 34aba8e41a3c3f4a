"""The WSGI application: both SOAP endpoints, /docs, /metrics, /healthz, a request id on every
response, and the client's address (addresses.py) in every request's environ. (gunicorn writes each
request's log line: server.JsonAccessLog.)"""
from __future__ import annotations

import json
import re
import time
import uuid

from spyne import Application
from spyne.protocol.soap import Soap11, Soap12

from . import logs
from .adapters import standby
from .adapters.database import Database
from .addresses import InvalidHeader
from .metrics import Metrics
from .adapters import page_tokens, password_digest
from .adapters.passwords import PasswordHashes
from .adapters.secret_box import SecretBox
from .ns import SOAP11_ENV, SOAP12_ENV, TNS
from .service_layer.context import utc_now
from .service_layer.failed_logins import FailedLoginBudget
from .service_layer.ledger import Ledger
from .settings import Settings
from .soap import docs
from .soap.contract import ENDPOINTS, WsdlDocument, build_wsdl
from .soap.environ_keys import CLIENT_ADDRESS, FAULT_CODE, HTTP_REFUSAL, OPERATION, REQUEST_ID
from .soap.faults import http_headers
from .soap.gateway import SoapEndpoint
from .soap.operations import LedgerService
from .wsse.signer import ResponseSigner
from .wsse.verification import SignatureVerifier

# The primary's WAL position once a request's writes committed, for its client to read its writes from a
# standby (docs/operations.md#read-replicas).
COMMIT_POSITION_HEADER = "Ledger-Commit-Position"
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._\-]{1,64}")
PROTOCOLS = {"soap11": (Soap11, SOAP11_ENV), "soap12": (Soap12, SOAP12_ENV)}


def spyne_application(binding: str) -> Application:
    """The operations as Spyne describes them on one binding, from which its WSDL is written."""
    protocol = PROTOCOLS[binding][0]
    return Application([LedgerService], tns=TNS, name="Ledger", in_protocol=protocol(),
                       out_protocol=protocol())


def serving_ledger(database: Database, secret_box: SecretBox | None = None,
                   failed_logins: FailedLoginBudget = FailedLoginBudget()) -> Ledger:
    """The use cases on the adapters a worker serves them with (the two modules implement their ports)."""
    return Ledger(database, passwords=PasswordHashes(), digests=password_digest, page_tokens=page_tokens,
                  secret_box=secret_box, failed_logins=failed_logins)


def contracts() -> dict[str, WsdlDocument]:
    """The WSDL of each binding, as the service serves it and as wsdl/ holds it."""
    return {binding: build_wsdl(spyne_application(binding), path) for binding, path in ENDPOINTS.items()}


class LedgerApplication:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.addresses = settings.addresses
        self.limits = settings.limits  # the worker's too (serving/)
        self.database = settings.database()
        self.ledger = serving_ledger(self.database, secret_box=settings.secret_key,
                                     failed_logins=settings.failed_login_budget)
        built = {binding: (spyne_application(binding), path) for binding, path in ENDPOINTS.items()}
        served = {binding: build_wsdl(app, path) for binding, (app, path) in built.items()}
        signatures = SignatureVerifier(self.ledger.signed_requests, utc_now)
        identity = settings.signing_identity()
        signer = ResponseSigner(identity, utc_now) if identity is not None else None
        self.routes = {path: SoapEndpoint(app, served[binding], PROTOCOLS[binding][1], self.ledger, self.limits,
                                          self.addresses, signatures, signer)
                       for binding, (app, path) in built.items()}
        self.docs = docs.DocsPage(served, settings.docs_examples)
        self.metrics = Metrics()
        self.metrics.watch_pool(self.database.engine)
        if self.database.standby is not None:
            self.metrics.watch_standby(self.database.standby)

    def __call__(self, environ: dict, start_response):
        started = time.perf_counter()
        offered = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = offered if _CLIENT_REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex
        environ[REQUEST_ID] = request_id
        environ[CLIENT_ADDRESS] = self.addresses.client_address(environ)
        # Where this request's reads must see the primary from (adapters/standby.py): a malformed position
        # asks for nothing.
        asked = environ.get("HTTP_LEDGER_READ_AFTER", "")
        standby.read_after.set(asked if standby.POSITION.fullmatch(asked) else None)
        standby.commit_position.set(None)
        with logs.serving(request_id):
            return self._route(environ, start_response, request_id, started)

    def _route(self, environ: dict, start_response, request_id: str, started: float):
        status_seen = []

        def start(status, headers, exc_info=None):
            status_seen.append(status)
            committed = standby.commit_position.get()
            position = [(COMMIT_POSITION_HEADER, committed)] if committed else []
            return start_response(status, headers + [("X-Request-Id", request_id), *position], exc_info)

        path = environ.get("PATH_INFO", "")
        endpoint = self.routes.get(path.rstrip("/") or path)
        refusal = environ.get(HTTP_REFUSAL)
        if endpoint is None:
            return self._other(path, environ, start) if refusal is None else _plain_refusal(refusal, environ, start)
        try:
            if refusal is not None:
                return endpoint.fault(environ, start, refusal.error, status=refusal.status)
            return endpoint(environ, start)
        finally:
            self.metrics.observe(environ.get(OPERATION), int(status_seen[0][:3]) if status_seen else 500,
                                 environ.get(FAULT_CODE), time.perf_counter() - started)

    def _other(self, path: str, environ, start):
        """What is not a SOAP endpoint: the reference, the metrics, the health check."""
        try:
            base_url = self.addresses.base_url(environ)
        except InvalidHeader as invalid:
            return _plain_text(start, "400 Bad Request", f"{invalid}\n")
        if path.rstrip("/") == "/docs" and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            page = self.docs.at(base_url)
            start("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(page))),
                             ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")])
            return [page]
        if path == "/metrics":
            body, content_type = self.metrics.text(self._standby_lag())
            start("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
            return [body]
        if path == "/healthz":
            healthy = self.database.ping()
            health = {"status": "ok" if healthy else "unavailable"}
            lag = self._standby_lag()
            if lag is not None:
                # The service serves on without its standby: its state is reported, not judged.
                health["standby"] = lag
            body = json.dumps(health).encode()
            start("200 OK" if healthy else "503 Service Unavailable",
                  [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        return _plain_text(start, "404 Not Found",
                           f"no such resource; the SOAP endpoints are {', '.join(ENDPOINTS.values())}\n")

    def _standby_lag(self) -> dict | None:
        standby = self.database.standby
        return standby.lag(self.database.engine) if standby is not None else None


def _plain_text(start_response, status: str, text: str, headers=()):
    body = text.encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))),
                            *headers])
    return [body]


def _plain_refusal(refusal, environ: dict, start):
    """What the server's HTTP layer refused, outside the SOAP endpoints: its status and why, as text."""
    environ[FAULT_CODE] = refusal.error.code.value
    return _plain_text(start, refusal.status, f"{refusal.error.message}\n", http_headers(refusal.error))


def create_app() -> LedgerApplication:
    """Gunicorn's entry point (`ledger_service.wsgi:create_app()`), in each worker as it boots: the
    settings are read here, once for the worker's life."""
    return LedgerApplication(Settings.from_environment())
