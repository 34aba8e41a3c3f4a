"""One SOAP endpoint: answers ?wsdl, and runs a POSTed request: reads, parses, checks and validates
the envelope, picks out the credentials and verifies a signature, reads the operation's arguments, calls
the operation, and writes its result or its fault, signed when the service signs its answers. Spyne
describes the operations (and the WSDL comes from it); running them takes no more than the functions it
describes."""
from __future__ import annotations

import logging
import sys

from lxml import etree
from spyne import Application

from ..addresses import Addresses, InvalidHeader
from ..domain.errors import FaultCode, LedgerError
from ..ns import SOAP11_ENV
from ..service_layer.context import ClientCertificate, RequestContext
from ..wsse.signer import ResponseSigner
from ..wsse.verification import SignatureVerifier
from . import codec
from .contract import WsdlDocument
from .envelope import (Limits, Request, RequestRefused, credentials, malformed, parse, read_body, read_envelope,
                       validate)
from .environ_keys import CLIENT, CLIENT_ADDRESS, CLIENT_CERTIFICATE, FAULT_CODE, OPERATION, REQUEST_ID, SIGNER
from .faults import envelope, fault_envelope, http_headers, http_status, internal_error
from .operations import Call

CONTENT_TYPES = {SOAP11_ENV: "text/xml; charset=utf-8"}
SOAP12_CONTENT_TYPE = "application/soap+xml; charset=utf-8"
ACCEPTED_CONTENT_TYPES = {"text/xml", "application/soap+xml", "application/xml"}
log = logging.getLogger(__name__)


class SoapEndpoint:
    def __init__(self, app: Application, wsdl: WsdlDocument, envelope_ns: str, ledger, limits: Limits,
                 addresses: Addresses, signatures: SignatureVerifier, signer: ResponseSigner | None = None):
        self.wsdl = wsdl
        self.addresses = addresses
        self.schema = wsdl.schema(envelope_ns)
        self.envelope_ns = envelope_ns
        self.content_type = CONTENT_TYPES.get(envelope_ns, SOAP12_CONTENT_TYPE)
        self.ledger = ledger
        self.limits = limits
        self.signatures = signatures
        self.signer = signer
        # Each operation's request element, by its qualified name, and what Spyne knows of it.
        self.operations = {tag: descriptors[0] for tag, descriptors in app.interface.service_method_map.items()}

    def __call__(self, environ: dict, start_response):
        try:
            return self._handle(environ, start_response)
        except RequestRefused as refused:
            return self.fault(environ, start_response, refused.error, refused.soap_code, refused.not_understood)
        except InvalidHeader as invalid:
            return self.fault(environ, start_response, LedgerError(FaultCode.MalformedRequest, str(invalid)),
                              status="400 Bad Request")
        except Exception:
            log.exception("request failed")  # the line names the request id (logs.serving)
            return self.fault(environ, start_response, internal_error(environ.get(REQUEST_ID)),
                               exc_info=sys.exc_info())

    def _handle(self, environ: dict, start_response):
        base_url = self.addresses.base_url(environ)  # a malformed Host is refused whatever the request
        certificate = self.addresses.client_certificate(environ)  # so is a malformed forwarded certificate
        environ[CLIENT_CERTIFICATE] = certificate.sha256 if certificate else None
        method = environ["REQUEST_METHOD"]
        if method == "GET" and environ.get("QUERY_STRING", "").lower().split("=")[0] == "wsdl":
            document = self.wsdl.at(base_url)
            start_response("200 OK", [("Content-Type", "text/xml; charset=utf-8"),
                                      ("Content-Length", str(len(document)))])
            return [document]
        if method != "POST":
            raise malformed(f"send SOAP requests with POST (GET {environ.get('PATH_INFO')}?wsdl for the contract)")
        media_type = environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
        if media_type not in ACCEPTED_CONTENT_TYPES:
            raise malformed(f"content type {media_type or '(none)'} is not XML; send {self.content_type}")
        root = parse(read_body(environ, self.limits), self.envelope_ns, self.limits)
        request = read_envelope(root, self.envelope_ns)
        operation = request.operation
        validate(self.schema, root, operation, self.operations.keys())
        descriptor = self.operations[operation.tag]
        environ[OPERATION] = descriptor.operation_name
        caller = credentials(request.security.username_token)
        environ[CLIENT] = caller.username if caller else None
        signed_by = self._signer(environ, root, request)
        call = Call(self.ledger, RequestContext(caller, environ.get(REQUEST_ID), environ.get(CLIENT_ADDRESS),
                                                certificate, signed_by))
        try:
            result = descriptor.function(call, *codec.read_arguments(descriptor.in_message, operation))
        except LedgerError as error:
            return self.fault(environ, start_response, error)
        response, body = envelope(self.envelope_ns)
        codec.write_result(body, descriptor.out_message, [result])
        document = self._document(response)
        start_response("200 OK", [("Content-Type", self.content_type), ("Content-Length", str(len(document)))])
        return [document]

    def _signer(self, environ: dict, root: etree._Element, request: Request) -> ClientCertificate | None:
        """The certificate whose key signed the request (None: it is not signed); a signature that does
        not verify refuses the request before any use case runs."""
        if request.security.signature is None:
            return None
        try:
            signed_by = self.signatures.signer(root, request.body, request.security)
        except LedgerError as refused:
            raise RequestRefused(refused) from None
        environ[SIGNER] = signed_by.sha256
        return signed_by

    def _document(self, root: etree._Element) -> bytes:
        """The response envelope `root` as sent: signed first, when the service signs its answers."""
        if self.signer is not None:
            self.signer.sign(root)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    def fault(self, environ: dict, start_response, error: LedgerError, soap_code: str | None = None,
              not_understood: tuple[str, ...] = (), exc_info=None, status: str | None = None):
        """The fault `error`: the request was refused (here, or by the server's HTTP layer), or its
        operation was; or it failed (InternalError). `status` overrides the HTTP status SOAP gives the
        fault (400 for a request HTTP itself refuses)."""
        environ[FAULT_CODE] = error.code.value
        envelope_ns, content_type = self.envelope_ns, self.content_type
        if soap_code == "VersionMismatch":
            # SOAP 1.2 Appendix A: a SOAP 1.1 sender gets its VersionMismatch in SOAP 1.1, the one
            # version it can read (and what a SOAP 1.1 endpoint answers a SOAP 1.2 sender anyway).
            envelope_ns, content_type = SOAP11_ENV, CONTENT_TYPES[SOAP11_ENV]
        document = self._document(fault_envelope(envelope_ns, error, soap_code, not_understood))
        headers = [("Content-Type", content_type), ("Content-Length", str(len(document))), *http_headers(error)]
        start_response(status or http_status(error), headers, exc_info)
        return [document]
