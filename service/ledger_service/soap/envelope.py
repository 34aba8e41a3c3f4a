"""Reading a request envelope safely: bounded body, a parser that resolves nothing, no DTD, limited
depth, the right SOAP version, one operation in the Body, valid against the contract's schema."""
from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass

from lxml import etree

from ..domain.errors import FaultCode, LedgerError
from ..service_layer.services import Credentials
from .faults import SOAP11_ENV, SOAP12_ENV
from .types import NAMESPACE

WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
PASSWORD_TEXT = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText"
PASSWORD_DIGEST = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
BASE64_BINARY = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
_LIST_ITEMS = {"line": "lines", "entry": "entries", "account": "accounts", "result": "results", "row": "rows",
               "total": "totals"}


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 4 * 1024 * 1024
    max_depth: int = 64
    # From a request's first byte to its last; a client slower than this is dropped (worker.py).
    body_timeout_seconds: float = 15.0
    # Request bodies one worker holds at once while they arrive (worker.py).
    max_buffered_bytes: int = 64 * 1024 * 1024

    @classmethod
    def from_environment(cls) -> "Limits":
        return cls(
            max_body_bytes=int(os.environ.get("LEDGER_MAX_BODY_BYTES", cls.max_body_bytes)),
            max_depth=int(os.environ.get("LEDGER_MAX_XML_DEPTH", cls.max_depth)),
            body_timeout_seconds=float(os.environ.get("LEDGER_BODY_TIMEOUT_SECONDS", cls.body_timeout_seconds)),
            max_buffered_bytes=int(os.environ.get("LEDGER_MAX_BUFFERED_BYTES", cls.max_buffered_bytes)),
        )


class RequestRefused(Exception):
    """The request never reaches an operation; `soap_code` overrides Client/Server where SOAP names one."""

    def __init__(self, error: LedgerError, soap_code: str | None = None):
        super().__init__(error.message)
        self.error = error
        self.soap_code = soap_code


def malformed(message: str, soap_code: str | None = None) -> RequestRefused:
    return RequestRefused(LedgerError(FaultCode.MalformedRequest, message), soap_code)


def read_body(environ: dict, limits: Limits) -> bytes:
    """The request body, which the server (worker.py) has read whole, refusing it past the limit."""
    size = int(environ.get("CONTENT_LENGTH") or 0)
    if size > limits.max_body_bytes:
        raise malformed(f"request body is larger than {limits.max_body_bytes} bytes")
    return environ["wsgi.input"].read(size)


# Comments and processing instructions carry nothing in SOAP; kept, they would reach Spyne's
# deserializer as children of the operation, which it cannot read.
_PARSER = dict(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, dtd_validation=False,
               remove_comments=True, remove_pis=True)


def parse(body: bytes, envelope_ns: str, limits: Limits) -> etree._Element:
    if not body.strip():
        raise malformed("request body is empty; send a SOAP envelope")
    try:
        root = etree.fromstring(body, parser=etree.XMLParser(**_PARSER))
    except etree.XMLSyntaxError as error:
        raise malformed(f"request is not well-formed XML: {error.msg}") from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise malformed("DTDs and entity declarations are not accepted")
    depth = 0
    for event, _ in etree.iterwalk(root, events=("start", "end")):
        depth += 1 if event == "start" else -1
        if depth > limits.max_depth:
            raise malformed(f"XML nesting is deeper than {limits.max_depth} levels")
    other = SOAP12_ENV if envelope_ns == SOAP11_ENV else SOAP11_ENV
    if root.tag == f"{{{other}}}Envelope":
        version = "1.2" if other == SOAP12_ENV else "1.1"
        raise malformed(f"this endpoint speaks SOAP {'1.1' if envelope_ns == SOAP11_ENV else '1.2'}, "
                        f"not SOAP {version}", "VersionMismatch")
    if root.tag != f"{{{envelope_ns}}}Envelope":
        raise malformed("request is not a SOAP envelope")
    return root


def _understood(header: etree._Element, envelope_ns: str) -> bool:
    return header.tag == f"{{{WSSE}}}Security" or header.get(f"{{{envelope_ns}}}mustUnderstand") not in ("1", "true")


def payload(root: etree._Element, envelope_ns: str) -> etree._Element:
    """The one operation element inside the Body, once every mandatory header is one we understand."""
    for header in root.findall(f"{{{envelope_ns}}}Header/*"):
        if not _understood(header, envelope_ns):
            raise malformed(f"header {header.tag} must be understood, and this service does not know it",
                            "MustUnderstand")
    bodies = root.findall(f"{{{envelope_ns}}}Body")
    if len(bodies) != 1:
        raise malformed("a SOAP envelope needs exactly one Body")
    operations = [child for child in bodies[0] if isinstance(child.tag, str)]
    if len(operations) != 1:
        raise malformed("the SOAP Body must hold exactly one operation element")
    return operations[0]


def credentials(root: etree._Element, envelope_ns: str) -> Credentials | None:
    token = root.find(f"{{{envelope_ns}}}Header/{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
    if token is None:
        return None
    username = token.findtext(f"{{{WSSE}}}Username") or ""
    password = token.find(f"{{{WSSE}}}Password")
    if password is None:
        return Credentials(username.strip(), "", "missing")
    kind = password.get("Type", PASSWORD_TEXT)
    password_type = {PASSWORD_TEXT: "PasswordText", PASSWORD_DIGEST: "PasswordDigest"}.get(kind, "unknown")
    created = token.findtext(f"{{{WSU}}}Created")
    return Credentials(username.strip(), password.text or "", password_type, _nonce(token),
                       created.strip() if created is not None else None)


def _nonce(token: etree._Element) -> bytes | None:
    """The UsernameToken's nonce, or None when it is absent or not Base64 (the only encoding accepted)."""
    nonce = token.find(f"{{{WSSE}}}Nonce")
    if nonce is None or nonce.get("EncodingType", BASE64_BINARY) != BASE64_BINARY:
        return None
    try:
        return base64.b64decode("".join((nonce.text or "").split()), validate=True) or None
    except (binascii.Error, ValueError):
        return None


def field_path(path: str | None) -> str | None:
    """An lxml error path (/tns:PostEntry/tns:entry/tns:lines/tns:line[2]/tns:amount) as a contract field
    path (entry.lines[1].amount)."""
    if not path:
        return None
    steps = [re.sub(r"^[^:]*:", "", step) for step in path.strip("/").split("/")][1:]
    field: list[str] = []
    for step in steps:
        name, _, index = step.partition("[")
        if name in _LIST_ITEMS and field and field[-1] == _LIST_ITEMS[name]:
            field[-1] += f"[{int(index.rstrip(']') or 1) - 1}]"
        else:
            field.append(name)
    return ".".join(field) or None


_EXPECTED = re.compile(r"Expected is \( \{[^}]*\}(\w+) \)")


def _offending_field(error) -> str | None:
    """The input the error is about. When a required element is missing, lxml points at the element
    where it stopped (the next sibling, or the parent when nothing follows): name the missing one."""
    field = field_path(error.path)
    expected = _EXPECTED.search(error.message)
    if expected is None:
        return field
    if "not expected" in error.message:
        field = field.rpartition(".")[0] if field else None
    return ".".join(filter(None, [field, expected.group(1)]))


def validate(schema: etree.XMLSchema, operation: etree._Element, operations: frozenset[str]) -> None:
    if operation.tag not in operations:
        name = etree.QName(operation).localname
        raise RequestRefused(LedgerError(FaultCode.SchemaValidation, f"there is no operation {name} in {NAMESPACE}"))
    if not schema.validate(operation):
        error = schema.error_log.last_error
        message = error.message.replace(f"{{{NAMESPACE}}}", "")
        raise RequestRefused(LedgerError(FaultCode.SchemaValidation, message, _offending_field(error)))
