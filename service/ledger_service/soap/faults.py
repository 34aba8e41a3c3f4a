"""Every SOAP fault the service sends, written in one place.

Handlers' faults (through Spyne) and the gateway's own (before Spyne runs) come out of
`add_fault`, so each carries the declared `tns:LedgerFault` element in its detail,
qualified, with nothing else beside it; a batch entry's fault (EntryResult.fault) is the same
type, written from `fault_record` by the codec.
"""
from __future__ import annotations

from lxml import etree
from spyne import Fault, Integer32, Unicode

from ..domain.errors import FaultCode, LedgerError, Location
from . import codec
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
    """Declares the fault in the contract: every operation throws it, and Spyne declares the element,
    the fault message and wsdl:fault. The service writes its faults itself, with `add_fault`."""

    __namespace__ = NAMESPACE
    __type_name__ = "LedgerFault"
    _type_info = [
        ("code", required(Unicode)),
        ("message", required(Unicode)),
        ("field", optional(Unicode)),
        ("index", optional(Integer32)),
    ]


class EntryResult(_Model):
    """One entry's outcome in a PostEntries batch: the entry, or the fault it met, typed tns:LedgerFault.
    (Declared here, beside LedgerFault: a Fault class is the one Spyne type named LedgerFault.)"""

    _type_info = [
        ("reference", required(Reference)),
        ("entry", optional(Entry)),
        ("fault", optional(LedgerFault)),
    ]


def _tns(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def field_path(location: Location) -> str | None:
    """Where a refusal applies as the contract's field path: ("entry", "lines", 1, "amount") is
    entry.lines[1].amount."""
    path = ""
    for step in location:
        path += f"[{step}]" if isinstance(step, int) else f".{step}" if path else step
    return path or None


def fault_record(error: LedgerError) -> codec.Record:
    """`error` as the fields of tns:LedgerFault."""
    return codec.Record(code=error.code.value, message=error.message, field=field_path(error.location),
                        index=error.index)


def envelope(envelope_ns: str) -> tuple[etree._Element, etree._Element]:
    """An empty envelope of the SOAP version `envelope_ns` and its Body, declaring the prefixes of every
    response: the envelope's and tns."""
    root = etree.Element(f"{{{envelope_ns}}}Envelope", nsmap={ENVELOPE_PREFIX[envelope_ns]: envelope_ns,
                                                               "tns": NAMESPACE})
    return root, etree.SubElement(root, f"{{{envelope_ns}}}Body")


def add_fault(body: etree._Element, envelope_ns: str, error: LedgerError, soap_code: str | None = None) -> None:
    """A soap:Fault for `error` in `body`. `soap_code` overrides Client/Server (VersionMismatch,
    MustUnderstand)."""
    prefix = ENVELOPE_PREFIX[envelope_ns]
    fault = etree.SubElement(body, f"{{{envelope_ns}}}Fault")
    if envelope_ns == SOAP11_ENV:
        code = soap_code or ("Server" if error.code.is_server_error else "Client")
        etree.SubElement(fault, "faultcode").text = f"{prefix}:{code}"
        etree.SubElement(fault, "faultstring").text = error.message
        detail = etree.SubElement(fault, "detail")
    else:
        code = soap_code or ("Receiver" if error.code.is_server_error else "Sender")
        value = etree.SubElement(etree.SubElement(fault, f"{{{envelope_ns}}}Code"), f"{{{envelope_ns}}}Value")
        value.text = f"{prefix}:{code}"
        text = etree.SubElement(etree.SubElement(fault, f"{{{envelope_ns}}}Reason"), f"{{{envelope_ns}}}Text")
        text.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
        text.text = error.message
        detail = etree.SubElement(fault, f"{{{envelope_ns}}}Detail")
    codec.write(detail, _tns("LedgerFault"), LedgerFault, fault_record(error))


def fault_envelope(envelope_ns: str, error: LedgerError, soap_code: str | None = None,
                   not_understood: tuple[str, ...] = ()) -> bytes:
    """The fault envelope; a SOAP 1.2 MustUnderstand fault names in its Header each mandatory header block
    that was not understood (`not_understood`, as {namespace}name), one env:NotUnderstood each (SOAP 1.2
    part 1 section 5.4.8)."""
    root, body = envelope(envelope_ns)
    if envelope_ns == SOAP12_ENV and not_understood:
        header = etree.Element(f"{{{envelope_ns}}}Header")
        body.addprevious(header)
        for name in not_understood:
            block = etree.QName(name)
            etree.SubElement(header, f"{{{envelope_ns}}}NotUnderstood", qname=f"h:{block.localname}",
                             nsmap={"h": block.namespace})
    add_fault(body, envelope_ns, error, soap_code)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def internal_error(request_id: str | None) -> LedgerError:
    """What a caller learns of an unexpected failure: that it happened, and which request it was."""
    return LedgerError(FaultCode.InternalError,
                       f"the ledger could not complete the request; quote request id {request_id}")


def http_status(error: LedgerError) -> str:
    return HTTP_STATUS.get(error.code, DEFAULT_HTTP_STATUS)


def http_headers(error: LedgerError) -> list[tuple[str, str]]:
    """HTTP headers a fault's response carries besides its content type: Retry-After (RateLimited)."""
    return [("Retry-After", str(error.retry_after))] if error.retry_after is not None else []
