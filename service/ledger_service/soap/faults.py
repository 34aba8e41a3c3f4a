"""Every SOAP fault the service sends, written in one place.

Handlers' faults (through Spyne) and the gateway's own (before Spyne runs) come out of
`fault_element`, so each carries the declared `tns:LedgerFault` element in its detail,
qualified, with nothing else beside it.
"""
from __future__ import annotations

from lxml import etree
from spyne import Fault, Integer32, Unicode

from ..domain.errors import FaultCode, LedgerError
from .types import NAMESPACE, Entry, Reference, _Model, optional, required

SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
ENVELOPE_PREFIX = {SOAP11_ENV: "soap11env", SOAP12_ENV: "soap12env"}

HTTP_STATUS = {
    FaultCode.RateLimited: "429 Too Many Requests",
    FaultCode.Unavailable: "503 Service Unavailable",
}
DEFAULT_HTTP_STATUS = "500 Internal Server Error"


class LedgerFault(Fault):
    """Declares the fault in the contract and carries a LedgerError through Spyne to the writer below.

    Members are `exc=True` so that Spyne declares them in the schema but does not also write them
    as children of soap:Fault.
    """

    __namespace__ = NAMESPACE
    __type_name__ = "LedgerFault"
    _type_info = [
        ("code", required(Unicode).customize(exc=True)),
        ("message", required(Unicode).customize(exc=True)),
        ("field", optional(Unicode).customize(exc=True)),
        ("index", optional(Integer32).customize(exc=True)),
    ]

    def __init__(self, error: LedgerError | None = None):
        error = error or LedgerError(FaultCode.InternalError, "internal error")
        super().__init__(faultcode="Server" if error.code.is_server_error else "Client", faultstring=error.message)
        self.error = error


class EntryResult(_Model):
    """One entry's outcome in a PostEntries batch: the entry, or the fault it met, typed tns:LedgerFault.
    (Declared here, beside LedgerFault: a Fault class is the one Spyne type named LedgerFault, and the
    protocol writes a fault held in a field as that field's element; see `protocol.fault_to_parent`.)"""

    _type_info = [
        ("reference", required(Reference)),
        ("entry", optional(Entry)),
        ("fault", optional(LedgerFault)),
    ]


def _tns(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def detail_element(error: LedgerError, name: str = "LedgerFault") -> etree._Element:
    """The tns:LedgerFault content for `error`, in an element named `name` (EntryResult's is `fault`)."""
    fault = etree.Element(_tns(name), nsmap={"tns": NAMESPACE})
    etree.SubElement(fault, _tns("code")).text = error.code.value
    etree.SubElement(fault, _tns("message")).text = error.message
    if error.field is not None:
        etree.SubElement(fault, _tns("field")).text = error.field
    if error.index is not None:
        etree.SubElement(fault, _tns("index")).text = str(error.index)
    return fault


def fault_element(envelope_ns: str, error: LedgerError, soap_code: str | None = None) -> etree._Element:
    """A soap:Fault for `error`. `soap_code` overrides Client/Server (VersionMismatch, MustUnderstand)."""
    prefix = ENVELOPE_PREFIX[envelope_ns]
    fault = etree.Element(f"{{{envelope_ns}}}Fault", nsmap={prefix: envelope_ns})
    if envelope_ns == SOAP11_ENV:
        code = soap_code or ("Server" if error.code.is_server_error else "Client")
        etree.SubElement(fault, "faultcode").text = f"{prefix}:{code}"
        etree.SubElement(fault, "faultstring").text = error.message
        etree.SubElement(fault, "detail").append(detail_element(error))
    else:
        code = soap_code or ("Receiver" if error.code.is_server_error else "Sender")
        value = etree.SubElement(etree.SubElement(fault, f"{{{envelope_ns}}}Code"), f"{{{envelope_ns}}}Value")
        value.text = f"{prefix}:{code}"
        text = etree.SubElement(etree.SubElement(fault, f"{{{envelope_ns}}}Reason"), f"{{{envelope_ns}}}Text")
        text.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
        text.text = error.message
        etree.SubElement(fault, f"{{{envelope_ns}}}Detail").append(detail_element(error))
    return fault


def fault_envelope(envelope_ns: str, error: LedgerError, soap_code: str | None = None) -> bytes:
    prefix = ENVELOPE_PREFIX[envelope_ns]
    envelope = etree.Element(f"{{{envelope_ns}}}Envelope", nsmap={prefix: envelope_ns, "tns": NAMESPACE})
    etree.SubElement(envelope, f"{{{envelope_ns}}}Body").append(fault_element(envelope_ns, error, soap_code))
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def internal_error(request_id: str | None) -> LedgerError:
    """What a caller learns of an unexpected failure: that it happened, and which request it was."""
    return LedgerError(FaultCode.InternalError,
                       f"the ledger could not complete the request; quote request id {request_id}")


def http_status(error: LedgerError) -> str:
    return HTTP_STATUS.get(error.code, DEFAULT_HTTP_STATUS)


def http_headers(error: LedgerError) -> list[tuple[str, str]]:
    """HTTP headers a fault's response carries besides its content type: Retry-After (RateLimited)."""
    return [("Retry-After", str(error.retry_after))] if error.retry_after is not None else []


def as_ledger_error(fault: Fault) -> LedgerError:
    """What a fault raised inside Spyne means to a caller; Spyne's own are either bad input or ours to fix."""
    if isinstance(fault, LedgerFault):
        return fault.error
    if str(fault.faultcode).startswith("Client"):
        return LedgerError(FaultCode.SchemaValidation, str(fault.faultstring))
    return LedgerError(FaultCode.InternalError, "internal error")
