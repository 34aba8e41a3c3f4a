"""/docs: the contract as an HTML reference, built once at start-up from the WSDL the service serves.

Every operation with its role, parameters, result and faults, and an example request and response
taken from the envelope fixtures; every type with its fields; every simple type with its facets; the
fault codes; both endpoints' addresses and WSDLs. What the WSDL cannot say (roles, what each fault
means) is said here, once. Only the addresses differ from one request to the next (`Reference.at`).
"""
from __future__ import annotations

import copy
import html
import os
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

import lxml.html
from lxml import etree

from ..domain.errors import FaultCode
from .contract import ENDPOINTS, Contract

WSDL = "http://schemas.xmlsoap.org/wsdl/"
XSD = "http://www.w3.org/2001/XMLSchema"
SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
NS = {"wsdl": WSDL, "xs": XSD}
TNS = "urn:soap-ledger:v1"
BINDING_NAMES = {"soap11": "SOAP 1.1", "soap12": "SOAP 1.2"}
# The fixtures of a source checkout (an editable install, or a container built from the repository).
CHECKOUT_EXAMPLES = Path(__file__).resolve().parents[3] / "tests" / "envelopes"

OPERATIONS = {
    # operation: (role, what it does, the faults particular to it)
    "CreateBook": ("system administrator", "Creates a book; the caller becomes its admin.", ["BookExists"]),
    "OpenAccount": ("admin", "Opens an account, optionally under a parent account of the same currency.",
                    ["AccountExists", "AccountNotFound", "AccountClosed", "UnknownCurrency", "CurrencyMismatch"]),
    "GetAccount": ("reader", "One account.", ["AccountNotFound"]),
    "ListAccounts": ("reader", "The book's accounts in code order, a page at a time, by type or code prefix.",
                     ["SchemaValidation"]),
    "CloseAccount": ("admin", "Closes an account with a zero balance and nothing pending.",
                     ["AccountNotFound", "AccountNotEmpty"]),
    "PostEntry": ("poster", "Posts a journal entry, or with pending reserves its amounts. The reference makes "
                            "it idempotent: the same content again returns the entry first posted.",
                  ["Unbalanced", "InvalidAmount", "TooFewLines", "TooManyLines", "AccountNotFound", "AccountClosed",
                   "ReferenceConflict", "PeriodClosed", "InsufficientBalance"]),
    "PostEntries": ("poster", "Up to 1000 entries in one request and one transaction; atomic: all or none, "
                              "otherwise one result per entry.",
                    ["BatchTooLarge", "Unbalanced", "InvalidAmount", "ReferenceConflict", "InsufficientBalance"]),
    "CommitPending": ("poster", "Posts what a pending entry reserved.",
                      ["EntryNotFound", "NotPending", "PendingExpired", "PeriodClosed"]),
    "VoidPending": ("poster", "Releases what a pending entry reserved.", ["EntryNotFound", "NotPending", "PendingExpired"]),
    "ReverseEntry": ("poster", "Posts the mirror of an entry under a new reference, linking the two.",
                     ["EntryNotFound", "AlreadyReversed", "NotReversible", "ReferenceConflict", "PeriodClosed",
                      "AccountClosed", "InsufficientBalance"]),
    "GetEntry": ("reader", "One entry by its reference, with its status now.", ["EntryNotFound"]),
    "GetEntryAudit": ("reader", "Who posted an entry, in which request, and who settled it if it was pending.",
                      ["EntryNotFound"]),
    "GetBalance": ("reader", "An account's posted and pending totals and balances, now or as of a date.",
                   ["AccountNotFound"]),
    "GetStatement": ("reader", "An account's posted lines between two dates with running balances, a page at a time.",
                     ["AccountNotFound", "SchemaValidation"]),
    "GetTrialBalance": ("reader", "Every account's net debit or credit, with totals per currency.", []),
    "ClosePeriod": ("admin", "Refuses entries dated on or before the date from now on.", ["PeriodClosed", "SchemaValidation"]),
}
# Faults any operation may answer.
COMMON_FAULTS = ["SchemaValidation", "MalformedRequest", "AuthenticationFailed", "NotAuthorized", "RateLimited",
                 "BookNotFound", "Unavailable", "InternalError"]
FAULTS = {
    "SchemaValidation": "The request does not match the schema, names no operation of the contract, or breaks a "
                        "rule of its own (pageSize, pageToken, fromDate after toDate, ClosePeriod past today).",
    "MalformedRequest": "Not XML, empty, a DTD, too large, too deep, too many namespace declarations or attributes "
                        "on an element, not a SOAP envelope, the other SOAP version (VersionMismatch), an envelope "
                        "out of shape (a Header after the Body or twice, not exactly one Body, anything else "
                        "beside them), two wsse:Security headers for the service or two UsernameTokens in one, an "
                        "unknown mandatory header (MustUnderstand), not an XML content type.",
    "AuthenticationFailed": "Missing, unknown or wrong credentials, or a disabled client; always the same words.",
    "NotAuthorized": "The client lacks the role on the book; without any grant it cannot tell whether the book exists.",
    "RateLimited": "The client spent its rate limit: HTTP 429 with Retry-After in seconds.",
    "BookNotFound": "A system administrator asked about a book that does not exist.",
    "BookExists": "The book code is taken.",
    "AccountNotFound": "No such account in the book.",
    "AccountExists": "The account code is taken in the book.",
    "AccountClosed": "Posting to, or opening a child under, a closed account.",
    "AccountNotEmpty": "Closing an account with a balance or something pending.",
    "UnknownCurrency": "Not an ISO 4217 currency code.",
    "CurrencyMismatch": "A child account in another currency than its parent.",
    "Unbalanced": "Debits and credits of an entry differ in some currency.",
    "InvalidAmount": "An amount that is not positive or is finer than its currency's minor unit.",
    "TooFewLines": "An entry of fewer than 2 lines.",
    "TooManyLines": "An entry of more than 1000 lines.",
    "BatchTooLarge": "A PostEntries batch of more than 1000 entries.",
    "ReferenceConflict": "The reference was used for a different entry.",
    "EntryNotFound": "No entry has that reference in the book.",
    "PeriodClosed": "The entry is dated on or before the book's closed-through date.",
    "InsufficientBalance": "A noNegativeBalance account would go below zero, counting pending reductions.",
    "NotPending": "Committing or voiding an entry that was never pending, or that the other outcome settled.",
    "PendingExpired": "Committing or voiding a pending entry past its pendingExpiresAt.",
    "AlreadyReversed": "Reversing an entry that was already reversed.",
    "NotReversible": "Reversing a reversal, or an entry that is not posted.",
    "Unavailable": "The ledger's database does not answer: HTTP 503; retry.",
    "InternalError": "An unexpected failure; the message carries the request id to quote.",
}


def _examples_root() -> Path | None:
    configured = os.environ.get("LEDGER_DOCS_EXAMPLES")
    root = Path(configured) if configured else CHECKOUT_EXAMPLES
    return root if root.is_dir() else None


def _pretty(document: bytes) -> str:
    """A fixture as an example, indented; text that is not XML as it is."""
    try:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_blank_text=True)
        tree = etree.fromstring(document, parser)
    except etree.XMLSyntaxError:
        return document.decode("utf-8", errors="replace")
    etree.indent(tree, space="  ")
    return etree.tostring(tree, encoding="unicode")


def examples(root: Path | None) -> dict[str, tuple[str, str]]:
    """For each operation, a step of its fixtures that calls it and gets an answer that is not a fault:
    (request, response). The last step of a case is what the case shows, so those come first."""
    found: dict[str, tuple[str, str]] = {}
    if root is None:
        return found
    for operation in OPERATIONS:
        folder = root / operation
        requests = sorted(folder.rglob("request.xml")) if folder.is_dir() else []
        by_case = groupby(requests, key=lambda path: path.relative_to(folder).parts[0])
        last_steps = {max(steps) for _, steps in by_case}
        for request_path in sorted(requests, key=lambda path: (path not in last_steps, path)):
            response_path = request_path.with_name("response.xml")
            if not response_path.exists():
                continue
            request, response = request_path.read_bytes(), response_path.read_bytes()
            if f":{operation}>".encode() in request and b"Fault>" not in response:
                found[operation] = (_pretty(request), _pretty(response))
                break
    return found


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    optional: bool
    repeated: bool


def _fields(schema: etree._Element, type_name: str) -> list[Field]:
    complex_type = schema.find(f"xs:complexType[@name='{type_name}']", NS)
    if complex_type is None:
        return []
    return [Field(element.get("name"), element.get("type").split(":")[-1], element.get("minOccurs") == "0",
                  element.get("maxOccurs") == "unbounded")
            for element in complex_type.iterfind("xs:sequence/xs:element", NS)]


def _type_link(name: str, complex_types: set[str], simple_types: set[str]) -> str:
    if name in complex_types or name in simple_types:
        return f'<a href="#type-{name}"><code>{name}</code></a>'
    return f"<code>xs:{name}</code>"


def _restriction(schema: etree._Element, type_name: str) -> str:
    """A simple type as its base and facets."""
    restriction = schema.find(f"xs:simpleType[@name='{type_name}']/xs:restriction", NS)
    base = restriction.get("base").split(":")[-1]
    facets = []
    values = [facet.get("value") for facet in restriction.iterfind("xs:enumeration", NS)]
    if values:
        facets.append("one of " + ", ".join(f"<code>{html.escape(value)}</code>" for value in values))
    for facet in restriction:
        kind = etree.QName(facet).localname
        if kind != "enumeration":
            facets.append(f"{kind} <code>{html.escape(facet.get('value'))}</code>")
    return f"<code>xs:{base}</code>" + (": " + "; ".join(facets) if facets else "")


STYLE = """
:root { --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --accent: #0b5cad; --code: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.55 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); }
nav { position: fixed; top: 0; bottom: 0; left: 0; width: 250px; overflow-y: auto; padding: 20px 16px;
      border-right: 1px solid var(--line); background: #fbfcfd; font-size: 14px; }
nav h2 { font-size: 12px; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); margin: 18px 0 6px; }
nav a { display: block; padding: 2px 6px; border-radius: 4px; color: var(--ink); text-decoration: none; }
nav a:hover { background: #eef2f6; }
main { margin-left: 250px; padding: 28px 44px 80px; max-width: 1100px; }
h1 { font-size: 28px; margin: 0 0 4px; } h2.section { font-size: 22px; margin-top: 44px; border-bottom: 1px solid var(--line); }
section.item { padding-top: 14px; scroll-margin-top: 8px; } section.item h3 { font-size: 19px; margin: 18px 0 4px; }
section.item:target h3 { color: var(--accent); }
.role { display: inline-block; font-size: 12px; padding: 1px 8px; border-radius: 10px; background: #e7f0fb; color: var(--accent); }
table { border-collapse: collapse; width: 100%; margin: 8px 0 12px; font-size: 14px; }
th, td { text-align: left; padding: 5px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; background: #f6f8fa; }
code { font: 13px ui-monospace, SFMono-Regular, Menlo, monospace; }
pre { background: var(--code); border: 1px solid var(--line); border-radius: 6px; padding: 12px; overflow-x: auto; font-size: 12.5px; }
details { margin: 6px 0; } summary { cursor: pointer; color: var(--muted); }
a { color: var(--accent); } .muted { color: var(--muted); }
"""


def render(contracts: dict[str, Contract], example_root: Path | None = None) -> bytes:
    """The reference page, from the served contracts (`soap11`, `soap12`)."""
    document = etree.fromstring(contracts["soap11"].document)
    schema = document.find("wsdl:types/xs:schema", NS)
    complex_types = sorted(t.get("name") for t in schema.iterfind("xs:complexType", NS))
    simple_types = sorted(t.get("name") for t in schema.iterfind("xs:simpleType", NS))
    operation_names = [op.get("name") for op in document.iterfind("wsdl:portType/wsdl:operation", NS)]
    wrappers = set(operation_names) | {f"{name}Response" for name in operation_names}
    # Operation wrappers are shown as parameters and results, list wrappers as "list of".
    data_types = [name for name in complex_types if name not in wrappers and not name.endswith("Array")]
    complex_set, simple_set = set(complex_types), set(simple_types)
    shown = examples(example_root or _examples_root())

    def field_type(field: Field) -> str:
        items = _fields(schema, field.type) if field.type.endswith("Array") else []
        if items:  # a list wrapper: say what it holds
            return f"list of <code>{items[0].name}</code>: {_type_link(items[0].type, complex_set, simple_set)}"
        return _type_link(field.type, complex_set, simple_set)

    def field_rows(type_name: str) -> str:
        rows = [f"<tr><td><code>{field.name}</code></td><td>{field_type(field)}</td>"
                f"<td>{'optional' if field.optional else 'required'}</td></tr>" for field in _fields(schema, type_name)]
        return ("<table><tr><th>field</th><th>type</th><th></th></tr>" + "".join(rows) + "</table>") if rows else \
            '<p class="muted">no fields</p>'

    parts = []
    for name in operation_names:
        role, summary, particular = OPERATIONS.get(name, ("", "", []))
        result = _fields(schema, f"{name}Response")
        result_text = ", ".join(f"<code>{f.name}</code>: {field_type(f)}" for f in result)
        faults = " ".join(f'<a href="#fault-{code}"><code>{code}</code></a>' for code in particular)
        example = shown.get(name)
        example_html = "" if example is None else (
            f"<details open><summary>Example request</summary><pre><code>{html.escape(example[0])}</code></pre></details>"
            f"<details><summary>Example response</summary><pre><code>{html.escape(example[1])}</code></pre></details>")
        parts.append(
            f'<section class="item operation" id="op-{name}"><h3>{name}</h3>'
            f'<p><span class="role">{html.escape(role)}</span> {html.escape(summary)}</p>'
            f"<h4>Parameters, in this order</h4>{field_rows(name)}<h4>Result</h4><p>{result_text}</p>"
            f"<h4>Faults</h4><p>{faults or '<span class=muted>only the common ones</span>'} "
            f'<span class="muted">and the common faults</span></p>{example_html}</section>')
    types_html = "".join(f'<section class="item type" id="type-{name}"><h3>{name}</h3>{field_rows(name)}</section>'
                         for name in data_types)
    simple_html = "".join(f'<section class="item type" id="type-{name}"><h3>{name}</h3>'
                          f"<p>{_restriction(schema, name)}</p></section>" for name in simple_types)
    fault_rows = "".join(
        f'<tr id="fault-{code.value}"><td><code>{code.value}</code></td><td>{"Server / Receiver" if code.is_server_error else "Client / Sender"}</td>'
        f"<td>{html.escape(FAULTS[code.value])}</td></tr>" for code in FaultCode)
    nav = ("<h2>Operations</h2>" + "".join(f'<a href="#op-{n}">{n}</a>' for n in operation_names)
           + "<h2>Types</h2>" + "".join(f'<a href="#type-{n}">{n}</a>' for n in data_types)
           + "<h2>Simple types</h2>" + "".join(f'<a href="#type-{n}">{n}</a>' for n in simple_types)
           + '<h2>Reference</h2><a href="#faults">Fault codes</a><a href="#wsdl">WSDL</a>')
    endpoint_rows = "".join(
        f'<tr><td>{BINDING_NAMES[binding]}</td><td><code id="address-{binding}">{path}</code></td>'
        f'<td><a id="wsdl-{binding}" href="{path}?wsdl">{path}?wsdl</a></td></tr>'
        for binding, path in ENDPOINTS.items())
    common = ", ".join(f'<a href="#fault-{code}"><code>{code}</code></a>' for code in COMMON_FAULTS)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>soap-ledger v1 reference</title><style>{STYLE}</style></head>
<body><nav aria-label="Contents"><strong>soap-ledger v1</strong>{nav}</nav>
<main>
<h1>soap-ledger v1 reference</h1>
<p class="muted">Namespace <code>{TNS}</code>, document/literal wrapped, WS-Security UsernameToken on every call.
Generated from the contract this service serves.</p>
<section class="item" id="wsdl"><h3>Endpoints and WSDL</h3>
<table><tr><th>binding</th><th>endpoint address</th><th>WSDL</th></tr>{endpoint_rows}</table>
<p>Every operation may answer the common faults {common}, besides its own. A fault's detail is one
<a href="#type-LedgerFault"><code>tns:LedgerFault</code></a>.</p>
<p class="muted">The examples are the project's envelope fixtures: a value in <code>{{{{…}}}}</code> is filled in
when they run (the book code, credentials) or stands for one that varies (ids, timestamps).</p></section>
<h2 class="section">Operations</h2>{"".join(parts)}
<h2 class="section">Types</h2>{types_html}
<h2 class="section">Simple types</h2>{simple_html}
<h2 class="section" id="faults">Fault codes</h2>
<table><tr><th>code</th><th>SOAP fault code</th><th>when</th></tr>{fault_rows}</table>
</main></body></html>
"""
    return page.encode("utf-8")


class Reference:
    """The page as served: the endpoints' addresses under each request's base URL (addresses.py), set
    on the elements that name them, so that lxml escapes whatever the URL holds."""

    def __init__(self, page: bytes):
        self.page = lxml.html.document_fromstring(page)

    def at(self, base_url: str) -> bytes:
        page = copy.deepcopy(self.page)
        for binding, path in ENDPOINTS.items():
            page.get_element_by_id(f"address-{binding}").text = base_url + path
            link = page.get_element_by_id(f"wsdl-{binding}")
            link.set("href", f"{base_url}{path}?wsdl")
            link.text = f"{base_url}{path}?wsdl"
        return lxml.html.tostring(page, doctype="<!DOCTYPE html>", encoding="utf-8")
