"""Reading a request envelope safely: bounded body, a parser that resolves nothing, no DTD, limited
depth, namespace declarations and attributes, the right SOAP version, the envelope's structure and its
header blocks (SOAP 1.1 section 4, SOAP 1.2 part 1 sections 2 and 5, WS-Security 1.0 section 4), one
operation in the Body, valid against the contract's schema."""
from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from ..domain.errors import FaultCode, LedgerError, Location
from ..domain.limits import MAX_CLIENT_NAME, MAX_PASSWORD
from ..ns import (PASSWORD_DIGEST, PASSWORD_TEXT, SOAP11_ENV, SOAP11_NEXT_ACTOR, SOAP12_ENV, SOAP12_NEXT_ROLE,
                  SOAP12_ULTIMATE_RECEIVER, TNS, WSSE, WSU, qualified)
from ..service_layer.authentication import authentication_failed
from ..service_layer.context import Credentials
from ..wsse.security_header import PARTS, SecurityHeader, base64_value

SECURITY = qualified(WSSE, "Security")
_TOKEN_PARTS = [qualified(WSSE, "Username"), qualified(WSSE, "Password"), qualified(WSSE, "Nonce"),
                qualified(WSU, "Created")]
# The attribute that addresses a header block to a node, and the values that name this service: the
# next node on the message path (SOAP 1.1, SOAP 1.2) and the ultimate receiver (SOAP 1.2; also what a
# block without the attribute is addressed to).
TARGETS = {
    SOAP11_ENV: ("actor", {SOAP11_NEXT_ACTOR}),
    SOAP12_ENV: ("role", {SOAP12_NEXT_ROLE, SOAP12_ULTIMATE_RECEIVER}),
}
# A UsernameToken's parts are never this long: refused before anything is looked up, hashed or stored.
MAX_NONCE_BYTES = 1024
MAX_CREATED_CHARACTERS = 64
_LIST_ITEMS = {"line": "lines", "entry": "entries", "account": "accounts", "result": "results", "row": "rows",
               "total": "totals"}


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 4 * 1024 * 1024
    max_depth: int = 64
    # From a request's first byte to its last; a client slower than this is dropped (serving/).
    body_timeout_seconds: float = 15.0
    # Request bodies one worker holds at once while they arrive (serving/).
    max_buffered_bytes: int = 64 * 1024 * 1024
    # SOAP stacks send a handful of each. The bounds keep every start tag, and every look-up of a prefix
    # through the namespaces in scope, within a constant cost, whatever the body holds.
    max_namespace_declarations: int = 64
    max_namespaces_in_scope: int = 256
    max_attributes: int = 64


class RequestRefused(Exception):
    """The request never reaches an operation; `soap_code` overrides Client/Server where SOAP names one,
    and `not_understood` names the mandatory header blocks of a MustUnderstand fault."""

    def __init__(self, error: LedgerError, soap_code: str | None = None, not_understood: tuple[str, ...] = ()):
        super().__init__(error.message)
        self.error = error
        self.soap_code = soap_code
        self.not_understood = not_understood


def malformed(message: str, soap_code: str | None = None) -> RequestRefused:
    return RequestRefused(LedgerError(FaultCode.MalformedRequest, message), soap_code)


def read_body(environ: dict, limits: Limits) -> bytes:
    """The request body, which the server (serving/) has read whole, refusing it past the limit."""
    size = int(environ.get("CONTENT_LENGTH") or 0)
    if size > limits.max_body_bytes:
        raise malformed(f"request body is larger than {limits.max_body_bytes} bytes")
    return environ["wsgi.input"].read(size)


# Comments and processing instructions carry nothing in SOAP; kept, they would reach the codec as
# children of the operation's elements, where a list takes each child for one of its items.
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
    _check_elements(root, limits)
    other = SOAP12_ENV if envelope_ns == SOAP11_ENV else SOAP11_ENV
    if root.tag == f"{{{other}}}Envelope":
        version = "1.2" if other == SOAP12_ENV else "1.1"
        raise malformed(f"this endpoint speaks SOAP {'1.1' if envelope_ns == SOAP11_ENV else '1.2'}, "
                        f"not SOAP {version}", "VersionMismatch")
    if root.tag != f"{{{envelope_ns}}}Envelope":
        raise malformed("request is not a SOAP envelope")
    return root


def _check_elements(root: etree._Element, limits: Limits) -> None:
    """Every element within the limits of depth, of namespace declarations (its own, and all those in
    scope) and of attributes, in one pass. lxml queues an element's declarations and hands them out from
    the front of a list: stopping at the cap also keeps its own work linear."""
    declared: list[int] = []  # per open element, the declarations it made
    in_scope = pending = 0
    for event, element in etree.iterwalk(root, events=("start-ns", "start", "end")):
        if event == "start-ns":  # each of the next element's declarations, before its start
            pending += 1
            if pending > limits.max_namespace_declarations:
                raise malformed(f"an element declares more than {limits.max_namespace_declarations} namespaces")
        elif event == "start":
            declared.append(pending)
            in_scope, pending = in_scope + pending, 0
            if len(declared) > limits.max_depth:
                raise malformed(f"XML nesting is deeper than {limits.max_depth} levels")
            if in_scope > limits.max_namespaces_in_scope:
                raise malformed(f"more than {limits.max_namespaces_in_scope} namespace declarations are in scope")
            if len(element.attrib) > limits.max_attributes:
                raise malformed(f"an element has more than {limits.max_attributes} attributes")
        else:
            in_scope -= declared.pop()


@dataclass(frozen=True)
class Request:
    """What the service reads of a request envelope: its Body and the operation in it, and the parts of
    the one wsse:Security header block addressed to it (all None without one)."""

    body: etree._Element
    operation: etree._Element
    security: SecurityHeader


def read_envelope(root: etree._Element, envelope_ns: str) -> Request:
    """The envelope's Body, operation and Security parts, once its structure is sound, every mandatory
    header block addressed to this service is one it processes, and nothing about who is calling is
    ambiguous."""
    header, body = _header_and_body(root, envelope_ns)
    blocks = _blocks_for_this_service(header, envelope_ns) if header is not None else []
    not_understood = tuple(block.tag for block in blocks
                           if _must_understand(block, envelope_ns) and block.tag != SECURITY)
    if not_understood:
        raise RequestRefused(LedgerError(FaultCode.MalformedRequest,
                                         f"header {', '.join(not_understood)} must be understood, "
                                         "and this service does not know it"), "MustUnderstand", not_understood)
    security = [block for block in blocks if block.tag == SECURITY]
    if len(security) > 1:
        raise malformed("a request carries at most one wsse:Security header block for this service")
    operations = [child for child in body if isinstance(child.tag, str)]
    if len(operations) != 1:
        raise malformed("the SOAP Body must hold exactly one operation element")
    return Request(body, operations[0], _security_header(security[0]) if security else SecurityHeader())


def _header_and_body(root: etree._Element, envelope_ns: str) -> tuple[etree._Element | None, etree._Element]:
    """The envelope's Header (None when it has none) and Body: an optional Header, then the Body, and
    nothing else (SOAP 1.2 part 1 section 5.1; WS-I Basic Profile R1011 for SOAP 1.1)."""
    children = [child for child in root if isinstance(child.tag, str)]
    tags = [child.tag for child in children]
    header_tag, body_tag = f"{{{envelope_ns}}}Header", f"{{{envelope_ns}}}Body"
    if tags == [body_tag]:
        return None, children[0]
    if tags == [header_tag, body_tag]:
        return children[0], children[1]
    if tags.count(body_tag) != 1:
        raise malformed("a SOAP envelope needs exactly one Body")
    if tags.count(header_tag) > 1:
        raise malformed("a SOAP envelope has at most one Header")
    if header_tag in tags and tags.index(header_tag) > tags.index(body_tag):
        raise malformed("the SOAP Header must come before the Body")
    stray = next(tag for tag in tags if tag not in (header_tag, body_tag))
    raise malformed(f"a SOAP envelope holds an optional Header and the Body, nothing else: not {stray}")


def _blocks_for_this_service(header: etree._Element, envelope_ns: str) -> list[etree._Element]:
    """The header blocks addressed to this service. Those addressed to other actors are none of its
    concern: never read, whatever their mustUnderstand says."""
    attribute, ours = TARGETS[envelope_ns]
    blocks = []
    for block in header:
        if not isinstance(block.tag, str):
            continue
        if not block.tag.startswith("{"):
            raise malformed(f"header block {block.tag} is not namespace-qualified")
        target = block.get(f"{{{envelope_ns}}}{attribute}")
        if target is None or target.strip() in ours:
            blocks.append(block)
    return blocks


def _must_understand(block: etree._Element, envelope_ns: str) -> bool:
    value = block.get(f"{{{envelope_ns}}}mustUnderstand")
    if value is None or value.strip() in ("0", "false"):
        return False
    if value.strip() in ("1", "true"):
        return True
    raise malformed(f"mustUnderstand on header {block.tag} is not 1, 0, true or false")


def _security_header(security: etree._Element) -> SecurityHeader:
    """The Security block's UsernameToken, Timestamp, BinarySecurityToken and Signature: at most one each
    (others it may hold are not read)."""
    found = {}
    for field, tag in PARTS.items():
        parts = security.findall(tag)
        if len(parts) > 1:
            raise malformed(f"a wsse:Security header block holds at most one {etree.QName(tag).localname}")
        found[field] = parts[0] if parts else None
    token = found["username_token"]
    for part in _TOKEN_PARTS if token is not None else ():
        if len(token.findall(part)) > 1:
            raise malformed(f"a UsernameToken holds at most one {etree.QName(part).localname}")
    return SecurityHeader(**found)


def credentials(token: etree._Element | None) -> Credentials | None:
    """What the UsernameToken says. One with parts longer than any real token's is refused here as any
    failed authentication is, before anything is looked up, hashed or stored."""
    if token is None:
        return None
    username = (token.findtext(f"{{{WSSE}}}Username") or "").strip()
    password = token.find(f"{{{WSSE}}}Password")
    created = token.findtext(f"{{{WSU}}}Created")
    created = created.strip() if created is not None else None
    nonce = base64_value(token.find(f"{{{WSSE}}}Nonce"))
    if (len(username) > MAX_CLIENT_NAME or (password is not None and len(password.text or "") > MAX_PASSWORD)
            or len(created or "") > MAX_CREATED_CHARACTERS or len(nonce or b"") > MAX_NONCE_BYTES):
        raise RequestRefused(authentication_failed())
    if password is None:
        return Credentials(username, "", "missing")
    kind = password.get("Type", PASSWORD_TEXT)
    password_type = {PASSWORD_TEXT: "PasswordText", PASSWORD_DIGEST: "PasswordDigest"}.get(kind, "unknown")
    return Credentials(username, password.text or "", password_type, nonce, created)


def schema_error_location(path: str | None) -> Location:
    """Where in the request an lxml error path points (/soap:Envelope/soap:Body/tns:PostEntry/tns:entry/
    tns:lines/tns:line[2]/tns:amount is ("entry", "lines", 1, "amount"))."""
    if not path:
        return ()
    steps = [re.sub(r"^[^:]*:", "", step) for step in path.strip("/").split("/")][3:]
    location: list[str | int] = []
    for step in steps:
        name, _, index = step.partition("[")
        if name in _LIST_ITEMS and location and location[-1] == _LIST_ITEMS[name]:
            location.append(int(index.rstrip("]") or 1) - 1)
        else:
            location.append(name)
    return tuple(location)


_EXPECTED = re.compile(r"Expected is \( \{[^}]*\}(\w+) \)")


def _offending_field(error) -> Location:
    """The input the error is about. When a required element is missing, lxml points at the element
    where it stopped (the next sibling, or the parent when nothing follows): name the missing one."""
    location = schema_error_location(error.path)
    expected = _EXPECTED.search(error.message)
    if expected is None:
        return location
    if "not expected" in error.message:
        # lxml stopped at the element after the missing one: leave that element (and its position) out.
        while location and isinstance(location[-1], int):
            location = location[:-1]
        location = location[:-1]
    return (*location, expected.group(1))


def validate(schema: etree.XMLSchema, root: etree._Element, operation: etree._Element,
             operations: frozenset[str]) -> None:
    """The envelope `root`, whose Body holds `operation`, against the envelope schema of the contract."""
    if operation.tag not in operations:
        name = etree.QName(operation).localname
        raise RequestRefused(LedgerError(FaultCode.SchemaValidation, f"there is no operation {name} in {TNS}"))
    if not schema.validate(root):
        error = schema.error_log.last_error
        message = error.message.replace(f"{{{TNS}}}", "")
        raise RequestRefused(LedgerError(FaultCode.SchemaValidation, message, _offending_field(error)))
