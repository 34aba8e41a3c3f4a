"""Every SOAP fault the service sends, written in one place.

The faults of operations and the gateway's refusals of requests come out of `add_fault`, so each
carries the declared `tns:LedgerFault` element in its detail, qualified, with nothing else beside it;
a batch entry's fault (EntryResult.fault) is the same type, written from `fault_record` by the codec.
"""
from __future__ import annotations

from lxml import etree
from spyne import Fault, Integer32, Unicode

from ..contract.reference import http_status_of, soap_fault_codes
from ..domain.errors import FaultCode, LedgerError, Location
from ..ns import SOAP11_ENV, SOAP12_ENV, TNS, XML, qualified
from . import codec
from .types import Entry, Reference, _Model, optional, required

ENVELOPE_PREFIX = {SOAP11_ENV: "soap11env", SOAP12_ENV: "soap12env"}


class LedgerFault(Fault):
    """Declares the fault in the contract: every operation throws it, and Spyne declares the element,
    the fault message and wsdl:fault. The service writes its faults itself, with `add_fault`."""

    __namespace__ = TNS
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
                                                               "tns": TNS})
    return root, etree.SubElement(root, f"{{{envelope_ns}}}Body")


def add_fault(body: etree._Element, envelope_ns: str, error: LedgerError, soap_code: str | None = None) -> None:
    """A soap:Fault for `error` in `body`. `soap_code` overrides Client/Server (VersionMismatch,
    MustUnderstand)."""
    prefix = ENVELOPE_PREFIX[envelope_ns]
    soap11_code, soap12_code = soap_fault_codes(error.code)
    fault = etree.SubElement(body, f"{{{envelope_ns}}}Fault")
    if envelope_ns == SOAP11_ENV:
        code = soap_code or soap11_code
        etree.SubElement(fault, "faultcode").text = f"{prefix}:{code}"
        etree.SubElement(fault, "faultstring").text = error.message
        detail = etree.SubElement(fault, "detail")
    else:
        code = soap_code or soap12_code
        value = etree.SubElement(etree.SubElement(fault, f"{{{envelope_ns}}}Code"), f"{{{envelope_ns}}}Value")
        value.text = f"{prefix}:{code}"
        text = etree.SubElement(etree.SubElement(fault, f"{{{envelope_ns}}}Reason"), f"{{{envelope_ns}}}Text")
        text.set(qualified(XML, "lang"), "en")
        text.text = error.message
        detail = etree.SubElement(fault, f"{{{envelope_ns}}}Detail")
    codec.write(detail, qualified(TNS, "LedgerFault"), LedgerFault, fault_record(error))


def fault_envelope(envelope_ns: str, error: LedgerError, soap_code: str | None = None,
                   not_understood: tuple[str, ...] = ()) -> etree._Element:
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
    return root


def internal_error(request_id: str | None) -> LedgerError:
    """What a caller learns of an unexpected failure: that it happened, and which request it was."""
    return LedgerError(FaultCode.InternalError,
                       f"the ledger could not complete the request; quote request id {request_id}")


def http_status(error: LedgerError) -> str:
    """The status line's status of a response carrying `error`, as WSGI wants it: 429 Too Many Requests."""
    status = http_status_of(error.code)
    return f"{status.value} {status.phrase}"


def http_headers(error: LedgerError) -> list[tuple[str, str]]:
    """HTTP headers a fault's response carries besides its content type: Retry-After (RateLimited)."""
    return [("Retry-After", str(error.retry_after))] if error.retry_after is not None else []
