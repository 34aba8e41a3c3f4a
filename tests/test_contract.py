"""The v1 contract: docs/contract.md#contract-rules hold in the committed and in the served WSDL, the two do not
drift apart, the build is deterministic, and no change breaks a v1 consumer."""
from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from lxml import etree

from conftest import TNS, cli
from ledger_service.contract.compatibility import breaking_changes
from ledger_service.soap.contract import PLACEHOLDER_BASE

ROOT = Path(__file__).resolve().parents[1]
WSDL_DIRECTORY = ROOT / "wsdl"
BASELINE_DIRECTORY = WSDL_DIRECTORY / "baseline" / "v1"
VERSIONS = ["11", "12"]
WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
XSD = "http://www.w3.org/2001/XMLSchema"
SOAP_BINDING = {"11": "http://schemas.xmlsoap.org/wsdl/soap/", "12": "http://schemas.xmlsoap.org/wsdl/soap12/"}
SOAP_OVER_HTTP = "http://schemas.xmlsoap.org/soap/http"
NS = {"wsdl": WSDL_NS, "xs": XSD, "soap11": SOAP_BINDING["11"], "soap12": SOAP_BINDING["12"]}

# docs/contract.md#types, written here on its own; `?` marks minOccurs="0".
FIELDS = {
    "Book": ["code", "name", "closedThrough?"],
    "AccountInput": ["code", "name", "type", "currency", "parentCode?", "noNegativeBalance?"],
    "Account": ["code", "name", "type", "currency", "parentCode?", "noNegativeBalance", "status", "openedAt"],
    "AccountPage": ["accounts", "nextPageToken?"],
    "EntryInput": ["reference", "effectiveDate", "description?", "lines", "pending?", "pendingTimeoutSeconds?",
                   "metadata?"],
    "LineInput": ["account", "side", "amount", "memo?"],
    "Entry": ["id", "reference", "effectiveDate", "recordedAt", "description?", "status", "lines",
              "pendingExpiresAt?", "reversalOf?", "reversedBy?", "metadata?"],
    "MetadataItem": ["key", "value"],
    "EntryPage": ["entries", "nextPageToken?"],
    "Line": ["account", "side", "amount", "currency", "memo?"],
    # Added to v1 as an operation of its own: who posted an entry, and who committed or voided a pending one,
    # asked for with GetEntryAudit.
    "EntryAudit": ["reference", "postedBy?", "requestId?", "recordedAt", "settledBy?", "settledRequestId?",
                   "settledAt?", "voidReason?", "journalSequence"],
    "Balance": ["account", "currency", "asOf?", "postedDebits", "postedCredits", "pendingDebits", "pendingCredits",
                "balance", "availableBalance"],
    "Statement": ["account", "currency", "fromDate", "toDate", "openingBalance", "closingBalance", "lines",
                  "nextPageToken?"],
    "StatementLine": ["reference", "effectiveDate", "description?", "side", "amount", "runningBalance"],
    "TrialBalance": ["asOf?", "rows", "totals"],
    "TrialBalanceRow": ["account", "name", "type", "currency", "debit", "credit"],
    "CurrencyTotal": ["currency", "debit", "credit"],
    "EntryResult": ["reference", "entry?", "fault?"],
    "LedgerFault": ["code", "message", "field?", "index?"],
    "JournalHead": ["book", "sequence", "hash", "recordedAt"],
    "JournalVerification": ["book", "fromSequence", "toSequence", "recordsChecked", "headHash", "intact",
                            "firstBreak?"],
    "JournalBreak": ["sequence", "reason"],
    "CamtStatement": ["messageId", "document"],
}
# docs/contract.md#operations: parameters in order, and the type of the one result.
OPERATIONS = {
    "CreateBook": (["code", "name"], "Book"),
    "OpenAccount": (["book", "account"], "Account"),
    "GetAccount": (["book", "code"], "Account"),
    "ListAccounts": (["book", "type?", "codePrefix?", "pageSize?", "pageToken?"], "AccountPage"),
    "CloseAccount": (["book", "code"], "Account"),
    "PostEntry": (["book", "entry"], "Entry"),
    "PostEntries": (["book", "entries", "atomic"], "EntryResultArray"),
    "CommitPending": (["book", "reference", "lines?"], "Entry"),
    "VoidPending": (["book", "reference", "reason?"], "Entry"),
    "GetEntry": (["book", "reference"], "Entry"),
    "GetEntryAudit": (["book", "reference"], "EntryAudit"),
    "ReverseEntry": (["book", "reference", "reversalReference", "effectiveDate?", "reason?"], "Entry"),
    "GetBalance": (["book", "account", "asOf?"], "Balance"),
    "GetStatement": (["book", "account", "fromDate", "toDate", "pageSize?", "pageToken?"], "Statement"),
    "GetTrialBalance": (["book", "asOf?"], "TrialBalance"),
    "ClosePeriod": (["book", "throughDate"], "Book"),
    "ListEntries": (["book", "fromDate", "toDate", "account?", "metadataKey?", "metadataValue?", "pageSize?",
                     "pageToken?"], "EntryPage"),
    "GetJournalHead": (["book"], "JournalHead"),
    "VerifyJournal": (["book", "fromSequence?", "toSequence?"], "JournalVerification"),
    "GetCamtStatement": (["book", "account", "fromDate", "toDate"], "CamtStatement"),
}
ENUMERATIONS = {
    "AccountType": ["ASSET", "EXPENSE", "LIABILITY", "EQUITY", "INCOME"],
    "Side": ["DEBIT", "CREDIT"],
    "EntryStatus": ["POSTED", "PENDING", "VOIDED", "EXPIRED"],
    "AccountStatus": ["OPEN", "CLOSED"],
    "BreakReason": ["hash mismatch", "missing record", "record out of order", "content changed"],
}
_xsd = f"{{{XSD}}}"
_tns = f"{{{TNS}}}"
FIELD_TYPES = {
    **{field: _xsd + "decimal" for field in [
        ("LineInput", "amount"), ("Line", "amount"), ("Balance", "postedDebits"), ("Balance", "postedCredits"),
        ("Balance", "pendingDebits"), ("Balance", "pendingCredits"), ("Balance", "balance"),
        ("Balance", "availableBalance"), ("Statement", "openingBalance"), ("Statement", "closingBalance"),
        ("StatementLine", "amount"), ("StatementLine", "runningBalance"), ("TrialBalanceRow", "debit"),
        ("TrialBalanceRow", "credit"), ("CurrencyTotal", "debit"), ("CurrencyTotal", "credit")]},
    **{field: _xsd + "date" for field in [
        ("Book", "closedThrough"), ("EntryInput", "effectiveDate"), ("Entry", "effectiveDate"), ("Balance", "asOf"),
        ("Statement", "fromDate"), ("Statement", "toDate"), ("StatementLine", "effectiveDate"),
        ("TrialBalance", "asOf"), ("GetBalance", "asOf"), ("GetStatement", "fromDate"), ("GetStatement", "toDate"),
        ("GetCamtStatement", "fromDate"), ("GetCamtStatement", "toDate"), ("ListEntries", "fromDate"),
        ("ListEntries", "toDate"), ("GetTrialBalance", "asOf"), ("ClosePeriod", "throughDate"), ("ReverseEntry", "effectiveDate")]},
    **{field: _xsd + "dateTime" for field in [
        ("Account", "openedAt"), ("Entry", "recordedAt"), ("Entry", "pendingExpiresAt"),
        ("EntryAudit", "recordedAt"), ("EntryAudit", "settledAt"), ("JournalHead", "recordedAt")]},
    **{field: _tns + "CurrencyCode" for field in [
        ("AccountInput", "currency"), ("Account", "currency"), ("Line", "currency"), ("Balance", "currency"),
        ("Statement", "currency"), ("TrialBalanceRow", "currency"), ("CurrencyTotal", "currency")]},
    # A place in a journal, and a SHA-256 in hex: one type each, wherever they stand.
    **{field: _tns + "Sequence" for field in [
        ("EntryAudit", "journalSequence"), ("JournalHead", "sequence"), ("JournalVerification", "fromSequence"),
        ("JournalVerification", "toSequence"), ("JournalVerification", "recordsChecked"), ("JournalBreak", "sequence"),
        ("VerifyJournal", "fromSequence"), ("VerifyJournal", "toSequence")]},
    ("JournalHead", "hash"): _tns + "Hash", ("JournalVerification", "headHash"): _tns + "Hash",
    ("JournalVerification", "intact"): _xsd + "boolean", ("JournalVerification", "firstBreak"): _tns + "JournalBreak",
    ("JournalBreak", "reason"): _tns + "BreakReason",
    ("CamtStatement", "document"): _xsd + "base64Binary",
    ("MetadataItem", "key"): _tns + "MetadataKey", ("MetadataItem", "value"): _tns + "MetadataValue",
    ("ListEntries", "metadataKey"): _tns + "MetadataKey", ("ListEntries", "metadataValue"): _tns + "MetadataValue",
    ("ListEntries", "account"): _tns + "Code",
    ("AccountInput", "type"): _tns + "AccountType", ("Account", "type"): _tns + "AccountType",
    ("TrialBalanceRow", "type"): _tns + "AccountType", ("ListAccounts", "type"): _tns + "AccountType",
    ("LineInput", "side"): _tns + "Side", ("Line", "side"): _tns + "Side", ("StatementLine", "side"): _tns + "Side",
    ("Entry", "status"): _tns + "EntryStatus", ("Account", "status"): _tns + "AccountStatus",
    ("OpenAccount", "account"): _tns + "AccountInput", ("PostEntry", "entry"): _tns + "EntryInput",
    ("PostEntries", "entries"): _tns + "EntryInputArray", ("PostEntries", "atomic"): _xsd + "boolean",
    ("EntryInput", "pending"): _xsd + "boolean", ("EntryInput", "pendingTimeoutSeconds"): _tns + "TimeoutSeconds",
    ("EntryResult", "reference"): _tns + "Reference", ("EntryResult", "entry"): _tns + "Entry",
    ("EntryResult", "fault"): _tns + "LedgerFault",
    ("LedgerFault", "code"): _xsd + "string", ("LedgerFault", "message"): _xsd + "string",
    ("LedgerFault", "field"): _xsd + "string", ("LedgerFault", "index"): _xsd + "int",
}
# (type, wrapper field) -> (item name, item type): the lists of docs/contract.md#contract-rules.
LISTS = {
    ("AccountPage", "accounts"): ("account", "Account"),
    ("EntryInput", "lines"): ("line", "LineInput"),
    ("CommitPending", "lines"): ("line", "LineInput"),
    ("Entry", "lines"): ("line", "Line"),
    ("PostEntries", "entries"): ("entry", "EntryInput"),
    ("PostEntriesResponse", "results"): ("result", "EntryResult"),
    ("Statement", "lines"): ("line", "StatementLine"),
    ("TrialBalance", "rows"): ("row", "TrialBalanceRow"),
    ("TrialBalance", "totals"): ("total", "CurrencyTotal"),
    ("EntryPage", "entries"): ("entry", "Entry"),
}
# Lists of at most so many items: (type, wrapper field) -> (item name, item type, maxOccurs).
BOUNDED_LISTS = {
    ("EntryInput", "metadata"): ("item", "MetadataItem", "32"),
    ("Entry", "metadata"): ("item", "MetadataItem", "32"),
}


def committed(version: str) -> bytes:
    return (WSDL_DIRECTORY / f"soap{version}.wsdl").read_bytes()


def resolved(element: etree._Element, attribute: str) -> str:
    prefix, _, local = element.get(attribute).rpartition(":")
    return f"{{{element.nsmap[prefix or None]}}}{local}"


def one(root: etree._Element, path: str, **variables) -> etree._Element:
    found = root.xpath(path, namespaces=NS, **variables)
    assert len(found) == 1, f"{path} {variables}: {len(found)} matches"
    return found[0]


def field_element(root: etree._Element, type_name: str, field: str) -> etree._Element:
    return one(root, "wsdl:types/xs:schema/xs:complexType[@name=$type]/xs:sequence/xs:element[@name=$field]",
               type=type_name, field=field)


def fields_as_written(root: etree._Element, type_name: str) -> list[str]:
    """A complex type's fields in schema order, written as docs/contract.md#types writes them: `?` after each
    minOccurs="0" one; and, to fail the comparison, `!` after any other minOccurs but 1, `*` after any
    maxOccurs."""
    fields = one(root, "wsdl:types/xs:schema/xs:complexType[@name=$type]", type=type_name).xpath(
        "xs:sequence/xs:element", namespaces=NS)
    marks = {None: "", "1": "", "0": "?"}
    return [field.get("name") + marks.get(field.get("minOccurs"), "!") + ("*" if field.get("maxOccurs") else "")
            for field in fields]


@dataclass
class Wsdl:
    version: str
    root: etree._Element

    def port_type_operations(self) -> list[etree._Element]:
        return self.root.xpath("wsdl:portType/wsdl:operation", namespaces=NS)

    def message_parts(self, reference: etree._Element) -> list[etree._Element]:
        message = one(self.root, "wsdl:message[@name=$name]", name=resolved(reference, "message").split("}")[1])
        return message.xpath("wsdl:part", namespaces=NS)


@pytest.fixture(params=[(origin, version) for origin in ("committed", "served") for version in VERSIONS],
                ids=lambda param: f"{param[0]}-soap{param[1]}")
def wsdl(request) -> Wsdl:
    origin, version = request.param
    if origin == "committed":
        return Wsdl(version, etree.fromstring(committed(version)))
    server = request.getfixturevalue("sqlite_server")
    response = requests.get(f"{server.endpoint(version)}?wsdl", timeout=30)
    assert response.status_code == 200
    return Wsdl(version, etree.fromstring(response.content))


# --- docs/contract.md#contract-rules, rule by rule ---

def test_target_namespace_and_qualified_elements(wsdl):
    assert wsdl.root.get("targetNamespace") == TNS
    schema = one(wsdl.root, "wsdl:types/xs:schema")
    assert (schema.get("targetNamespace"), schema.get("elementFormDefault")) == (TNS, "qualified")


def test_operations_are_document_literal_wrapped(wsdl):
    for operation in wsdl.port_type_operations():
        name = operation.get("name")
        for role, wrapper in (("input", name), ("output", f"{name}Response")):
            parts = wsdl.message_parts(one(operation, f"wsdl:{role}"))
            assert [(part.get("name"), part.get("type")) for part in parts] == [("parameters", None)], name
            assert resolved(parts[0], "element") == _tns + wrapper
            element = one(wsdl.root, "wsdl:types/xs:schema/xs:element[@name=$name]", name=wrapper)
            # wsimport and svcutil unwrap only a wrapper whose type is a plain sequence of elements.
            wrapper_type = one(wsdl.root, "wsdl:types/xs:schema/xs:complexType[@name=$name]",
                               name=resolved(element, "type").split("}")[1])
            assert [etree.QName(child).localname for child in wrapper_type] == ["sequence"]
    assert wsdl.root.xpath("//@parameterOrder") == []


def test_binding_is_document_literal_over_soap_http(wsdl):
    soap = f"soap{wsdl.version}"
    binding = one(wsdl.root, "wsdl:binding")
    assert resolved(binding, "type") == _tns + one(wsdl.root, "wsdl:portType").get("name")
    soap_binding = one(binding, f"{soap}:binding")
    assert (soap_binding.get("style"), soap_binding.get("transport")) == ("document", SOAP_OVER_HTTP)
    for operation in binding.xpath("wsdl:operation", namespaces=NS):
        assert one(operation, f"{soap}:operation").get("style") in (None, "document")
        # WS-I BP R2716: a document/literal body names no namespace; every body and fault is literal.
        for body in operation.xpath(f"wsdl:input/{soap}:body | wsdl:output/{soap}:body", namespaces=NS):
            assert dict(body.attrib) == {"use": "literal"}
        assert one(operation, f"wsdl:fault/{soap}:fault").get("use") == "literal"
    address = one(wsdl.root, f"wsdl:service/wsdl:port/{soap}:address")
    assert address.get("location").endswith(f"/v1/soap{wsdl.version}")
    foreign = {etree.QName(element).namespace
               for element in wsdl.root.xpath("wsdl:binding//* | wsdl:service//*", namespaces=NS)} - {WSDL_NS}
    assert foreign == {SOAP_BINDING[wsdl.version]}


def test_every_operation_declares_ledger_fault(wsdl):
    for operation in wsdl.port_type_operations():
        fault = one(operation, "wsdl:fault")
        assert fault.get("name") == "LedgerFault"
        (part,) = wsdl.message_parts(fault)
        assert resolved(part, "element") == _tns + "LedgerFault"
        bound = one(wsdl.root, "wsdl:binding/wsdl:operation[@name=$name]/wsdl:fault", name=operation.get("name"))
        assert bound.get("name") == one(bound, f"soap{wsdl.version}:fault").get("name") == "LedgerFault"
    element = one(wsdl.root, "wsdl:types/xs:schema/xs:element[@name='LedgerFault']")
    assert resolved(element, "type") == _tns + "LedgerFault"
    assert fields_as_written(wsdl.root, "LedgerFault") == FIELDS["LedgerFault"]


def test_nothing_is_nillable(wsdl):
    assert wsdl.root.xpath("//xs:element[@nillable='true' or @nillable='1']", namespaces=NS) == []


def test_types_have_the_fields_of_spec_table_in_order(wsdl):
    """Also: required fields carry no minOccurs (so 1), optional ones minOccurs="0", none repeats."""
    for type_name, fields in FIELDS.items():
        assert fields_as_written(wsdl.root, type_name) == fields, type_name


def test_money_dates_timestamps_and_codes_have_their_types(wsdl):
    for (type_name, field), expected in FIELD_TYPES.items():
        assert resolved(field_element(wsdl.root, type_name, field), "type") == expected, (type_name, field)
    used = {resolved(element, "type") for element in wsdl.root.xpath("//xs:element[@type]", namespaces=NS)}
    assert not used & {_xsd + "float", _xsd + "double"}
    currency = one(wsdl.root, "wsdl:types/xs:schema/xs:simpleType[@name='CurrencyCode']/xs:restriction")
    assert currency.xpath("xs:pattern/@value", namespaces=NS) == ["[A-Z]{3}"]
    timeout = one(wsdl.root, "wsdl:types/xs:schema/xs:simpleType[@name='TimeoutSeconds']/xs:restriction")
    assert (resolved(timeout, "base"), timeout.xpath("xs:*/@value", namespaces=NS)) == (_xsd + "int", ["1"])
    sequence = one(wsdl.root, "wsdl:types/xs:schema/xs:simpleType[@name='Sequence']/xs:restriction")
    assert (resolved(sequence, "base"), sequence.xpath("xs:*/@value", namespaces=NS)) == (_xsd + "long", ["0"])
    hash_ = one(wsdl.root, "wsdl:types/xs:schema/xs:simpleType[@name='Hash']/xs:restriction")
    assert hash_.xpath("xs:pattern/@value", namespaces=NS) == ["[0-9a-f]{64}"]


def test_lists_are_wrappers_of_singular_items(wsdl):
    lists = {**{field: (*item, "unbounded") for field, item in LISTS.items()}, **BOUNDED_LISTS}
    for (type_name, wrapper), (item, item_type, at_most) in lists.items():
        array_type = resolved(field_element(wsdl.root, type_name, wrapper), "type").split("}")[1]
        (element,) = one(wsdl.root, "wsdl:types/xs:schema/xs:complexType[@name=$name]/xs:sequence",
                         name=array_type)
        # minOccurs="0": a list may be empty (a new book has no accounts) and must still be valid.
        assert (element.get("name"), resolved(element, "type"), element.get("minOccurs"),
                element.get("maxOccurs")) == (item, _tns + item_type, "0", at_most), (type_name, wrapper)


def test_operations_take_spec_parameters_in_order(wsdl):
    assert sorted(op.get("name") for op in wsdl.port_type_operations()) == sorted(OPERATIONS)
    assert sorted(wsdl.root.xpath("wsdl:binding/wsdl:operation/@name", namespaces=NS)) == sorted(OPERATIONS)
    for name, (parameters, result) in OPERATIONS.items():
        assert fields_as_written(wsdl.root, name) == parameters, name
        # the book's code; for CreateBook, the new book's
        assert resolved(field_element(wsdl.root, name, parameters[0]), "type") == _tns + "Code"
        (response,) = one(wsdl.root, "wsdl:types/xs:schema/xs:complexType[@name=$name]/xs:sequence",
                          name=f"{name}Response")
        assert (resolved(response, "type"), response.get("minOccurs")) == (_tns + result, None), name


def test_enumerations_have_exactly_spec_values(wsdl):
    for name, values in ENUMERATIONS.items():
        restriction = one(wsdl.root, "wsdl:types/xs:schema/xs:simpleType[@name=$name]/xs:restriction", name=name)
        assert resolved(restriction, "base") == _xsd + "string"
        assert restriction.xpath("xs:enumeration/@value", namespaces=NS) == values, name


# --- the committed contract is the served one, built the same way every time ---

@pytest.mark.parametrize("version", VERSIONS)
def test_served_wsdl_is_the_committed_one_at_the_live_address(sqlite_server, version):
    endpoint = sqlite_server.endpoint(version)
    served = requests.get(f"{endpoint}?wsdl", timeout=30)
    assert served.status_code == 200 and served.headers["Content-Type"].startswith("text/xml")
    address = one(etree.fromstring(served.content), f"wsdl:service/wsdl:port/soap{version}:address")
    assert address.get("location") == endpoint
    placeholder = f'location="{PLACEHOLDER_BASE}/v1/soap{version}"'.encode()
    assert served.content.replace(f'location="{endpoint}"'.encode(), placeholder) == committed(version)


@pytest.mark.parametrize("seed", ["0", "1", "2", "3", "4"])
def test_every_process_builds_the_committed_contract(tmp_path, seed):
    """Spyne emits schema declarations in set order, which PYTHONHASHSEED changes between processes."""
    result = cli("contract", "export", "--directory", str(tmp_path), env={"PYTHONHASHSEED": seed})
    assert result.returncode == 0, result.stderr
    for version in VERSIONS:
        assert (tmp_path / f"soap{version}.wsdl").read_bytes() == committed(version)


# --- compatibility with the v1 baseline ---

@pytest.mark.parametrize("version", VERSIONS)
def test_committed_contract_breaks_no_v1_consumer(version):
    assert breaking_changes((BASELINE_DIRECTORY / f"soap{version}.wsdl").read_bytes(), committed(version)) == []


def test_entry_metadata_is_the_one_response_field_the_check_lets_in():
    """docs/contract.md#contract-rules, rule 9: Entry.metadata, optional, answered only about what a caller sent."""
    baseline = (BASELINE_DIRECTORY / "soap11.wsdl").read_bytes()
    assert breaking_changes(baseline, committed("11")) == []

    def always_there(root):
        field_element(root, "Entry", "metadata").attrib.pop("minOccurs")

    def another_field(root):
        add_field(root, "Entry", "tags", "xs:string", minOccurs="0")

    assert breaking_changes(baseline, mutated(always_there)) == [
        "New field Entry.metadata appears in responses, which strict v1 clients (zeep's default) refuse."]
    assert breaking_changes(baseline, mutated(another_field)) == [
        "New field Entry.tags appears in responses, which strict v1 clients (zeep's default) refuse."]


def test_a_different_binding_protocol_is_reported():
    assert breaking_changes(committed("11"), committed("12")) == [
        "Binding Ledger's protocol changed from SOAP 1.1 to SOAP 1.2."]


def mutated(change) -> bytes:
    root = etree.fromstring(committed("11"))
    change(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def remove(root: etree._Element, path: str) -> None:
    found = root.xpath(path, namespaces=NS)
    assert found, path
    for element in found:
        element.getparent().remove(element)


def restriction(root: etree._Element, simple_type: str) -> etree._Element:
    return one(root, "wsdl:types/xs:schema/xs:simpleType[@name=$name]/xs:restriction", name=simple_type)


def facet(root: etree._Element, simple_type: str, name: str) -> etree._Element:
    return one(restriction(root, simple_type), f"xs:{name}")


def soap_operation(root: etree._Element, operation: str) -> etree._Element:
    return one(root, "wsdl:binding/wsdl:operation[@name=$name]/soap11:operation", name=operation)


def add_field(root: etree._Element, type_name: str, name: str, type_: str, **attributes: str) -> None:
    sequence = one(root, "wsdl:types/xs:schema/xs:complexType[@name=$name]/xs:sequence", name=type_name)
    etree.SubElement(sequence, _xsd + "element", name=name, type=type_, **attributes)


def remove_get_balance(root):
    remove(root, "wsdl:portType/wsdl:operation[@name='GetBalance'] | wsdl:binding/wsdl:operation[@name='GetBalance']"
                 " | wsdl:message[@name='GetBalance' or @name='GetBalanceResponse']"
                 " | wsdl:types/xs:schema/*[@name='GetBalance' or @name='GetBalanceResponse']")


def rename_account_input_name(root):
    field_element(root, "AccountInput", "name").set("name", "accountName")


def swap_posted_debits_and_credits(root):
    debits = field_element(root, "Balance", "postedDebits")
    debits.addprevious(field_element(root, "Balance", "postedCredits"))


def add_entry_status_value(root):
    etree.SubElement(restriction(root, "EntryStatus"), _xsd + "enumeration", value="ARCHIVED")


def make_page_size_lower_bound_exclusive(root):
    facet(root, "PageSize", "minInclusive").tag = _xsd + "minExclusive"


def rename_get_balance_part(root):
    one(root, "wsdl:message[@name='GetBalance']/wsdl:part").set("name", "body")


BREAKING = [
    pytest.param(remove_get_balance, [
        "Operation GetBalance was removed from portType Ledger (or renamed).",
        "Operation GetBalance was removed from binding Ledger (or renamed).",
        "Global element GetBalance was removed or renamed.",
        "Global element GetBalanceResponse was removed or renamed.",
        "Complex type GetBalance was removed or renamed.",
        "Complex type GetBalanceResponse was removed or renamed.",
    ], id="operation removed"),
    pytest.param(rename_account_input_name, [
        "Field AccountInput.name was removed or renamed.",
        "New field AccountInput.accountName is required, and v1 clients send AccountInput without it.",
    ], id="request field renamed"),
    pytest.param(lambda root: remove(root, "wsdl:types/xs:schema/xs:complexType[@name='Account']"
                                           "/xs:sequence/xs:element[@name='openedAt']"),
                 ["Field Account.openedAt was removed or renamed."], id="response field removed"),
    pytest.param(lambda root: remove(root, "wsdl:types/xs:schema/xs:simpleType[@name='Side']"
                                           "/xs:restriction/xs:enumeration[@value='CREDIT']"),
                 ["Enumeration Side lost value CREDIT."], id="enumeration value removed"),
    pytest.param(add_entry_status_value,
                 ["Enumeration EntryStatus gained value ARCHIVED, which v1 clients cannot read in responses."],
                 id="enumeration value added to a response type"),
    pytest.param(lambda root: facet(root, "Code", "maxLength").set("value", "32"),
                 ["Simple type Code narrowed: maxLength 64 -> 32."], id="maxLength lowered"),
    pytest.param(lambda root: facet(root, "Name", "minLength").set("value", "3"),
                 ["Simple type Name narrowed: minLength 1 -> 3."], id="minLength raised"),
    pytest.param(lambda root: facet(root, "Reference", "pattern").set("value", "[A-Za-z0-9-]+"),
                 ["Simple type Reference narrowed: pattern [!-~]+ -> [A-Za-z0-9-]+."], id="pattern changed"),
    pytest.param(lambda root: facet(root, "PageSize", "maxInclusive").set("value", "500"),
                 ["Simple type PageSize narrowed: upper bound maxInclusive 1000 -> maxInclusive 500."],
                 id="maxInclusive lowered"),
    pytest.param(make_page_size_lower_bound_exclusive,
                 ["Simple type PageSize narrowed: lower bound minInclusive 1 -> minExclusive 1."],
                 id="inclusive bound made exclusive"),
    pytest.param(lambda root: restriction(root, "PageSize").set("base", "xs:short"),
                 ["Simple type PageSize changed base type from xs:int to xs:short."], id="base type changed"),
    pytest.param(lambda root: field_element(root, "AccountInput", "parentCode").attrib.pop("minOccurs"),
                 ["Field AccountInput.parentCode became required (minOccurs 0 -> 1), and v1 clients may leave it "
                  "out."], id="optional input made required"),
    pytest.param(lambda root: add_field(root, "AccountInput", "region", "tns:Code"),
                 ["New field AccountInput.region is required, and v1 clients send AccountInput without it."],
                 id="required input field added"),
    pytest.param(lambda root: field_element(root, "Balance", "balance").set("minOccurs", "0"),
                 ["Field Balance.balance is no longer always present in responses (minOccurs 1 -> 0)."],
                 id="response field made optional"),
    pytest.param(lambda root: field_element(root, "Balance", "balance").set("nillable", "true"),
                 ["Field Balance.balance became nillable, so responses may carry nil where v1 clients expect a "
                  "value."], id="response field made nillable"),
    pytest.param(lambda root: add_field(root, "Balance", "limit", "xs:decimal", minOccurs="0"),
                 ["New field Balance.limit appears in responses, which strict v1 clients (zeep's default) refuse."],
                 id="response field added"),
    pytest.param(lambda root: one(root, "wsdl:types/xs:schema/xs:complexType[@name='LineInputArray']/xs:sequence"
                                        "/xs:element").set("maxOccurs", "1000"),
                 ["Field LineInputArray.line allows fewer occurrences (maxOccurs unbounded -> 1000)."],
                 id="maxOccurs lowered"),
    pytest.param(swap_posted_debits_and_credits,
                 ["Fields of Balance changed order from account, currency, asOf, postedDebits, postedCredits, "
                  "pendingDebits, pendingCredits, balance, availableBalance to account, currency, asOf, postedCredits, "
                  "postedDebits, pendingDebits, pendingCredits, balance, availableBalance."], id="fields reordered"),
    pytest.param(lambda root: field_element(root, "LineInput", "amount").set("type", "xs:double"),
                 ["Field LineInput.amount changed type from xs:decimal to xs:double."], id="field type changed"),
    pytest.param(lambda root: soap_operation(root, "GetBalance").set("soapAction", "urn:soap-ledger:v1/GetBalance"),
                 ["Operation GetBalance's soapAction changed from 'GetBalance' to 'urn:soap-ledger:v1/GetBalance' "
                  "in binding Ledger."], id="soapAction changed"),
    pytest.param(lambda root: soap_operation(root, "GetBalance").set("style", "rpc"),
                 ["Operation GetBalance's style changed from document to rpc in binding Ledger."], id="style changed"),
    pytest.param(lambda root: one(root, "wsdl:binding/wsdl:operation[@name='GetBalance']/wsdl:input/soap11:body"
                                  ).set("use", "encoded"),
                 ["Operation GetBalance's input use changed from literal to encoded in binding Ledger."],
                 id="use changed"),
    pytest.param(rename_get_balance_part,
                 ["Operation GetBalance's input message changed from part parameters (GetBalance) "
                  "to part body (GetBalance)."], id="message part renamed"),
    pytest.param(lambda root: remove(root, "wsdl:portType/wsdl:operation[@name='GetBalance']/wsdl:fault"),
                 ["Operation GetBalance no longer declares fault LedgerFault."], id="fault removed"),
    pytest.param(lambda root: remove(root, "wsdl:types/xs:schema/xs:element[@name='LedgerFault']"),
                 ["Global element LedgerFault was removed or renamed."], id="global element removed"),
    pytest.param(lambda root: remove(root, "wsdl:types/xs:schema/xs:complexType[@name='CurrencyTotal']"),
                 ["Complex type CurrencyTotal was removed or renamed."], id="complex type removed"),
]


@pytest.mark.parametrize("change, expected", BREAKING)
def test_breaking_change_is_reported(change, expected):
    assert breaking_changes(committed("11"), mutated(change)) == expected


def add_get_book(root):
    """A whole new operation, GetBook(book) -> Book, declared the way the contract declares the others."""
    schema = one(root, "wsdl:types/xs:schema")
    for wrapper, (field, type_) in {"GetBook": ("book", "tns:Code"), "GetBookResponse": ("book", "tns:Book")}.items():
        sequence = etree.SubElement(etree.SubElement(schema, _xsd + "complexType", name=wrapper), _xsd + "sequence")
        etree.SubElement(sequence, _xsd + "element", name=field, type=type_)
        etree.SubElement(schema, _xsd + "element", name=wrapper, type=f"tns:{wrapper}")
        message = etree.Element(f"{{{WSDL_NS}}}message", name=wrapper)
        etree.SubElement(message, f"{{{WSDL_NS}}}part", name="parameters", element=f"tns:{wrapper}")
        one(root, "wsdl:portType").addprevious(message)
    for parent in ("wsdl:portType", "wsdl:binding"):
        template = one(root, f"{parent}/wsdl:operation[@name='GetAccount']")
        operation = etree.fromstring(etree.tostring(template).replace(b"GetAccount", b"GetBook"))
        one(root, parent).append(operation)


def add_request_only_enumeration(root):
    """A new optional AccountInput field typed by a new enumeration that only requests carry."""
    schema = one(root, "wsdl:types/xs:schema")
    simple_type = etree.SubElement(schema, _xsd + "simpleType", name="Priority")
    values = etree.SubElement(simple_type, _xsd + "restriction", base="xs:string")
    etree.SubElement(values, _xsd + "enumeration", value="LOW")
    add_field(root, "AccountInput", "priority", "tns:Priority", minOccurs="0")


def widen_request_types(root):
    facet(root, "Code", "maxLength").set("value", "128")
    remove(root, "wsdl:types/xs:schema/xs:simpleType[@name='Reference']/xs:restriction/xs:pattern")
    field_element(root, "GetBalance", "account").set("minOccurs", "0")


ADDITIVE = [
    pytest.param(add_get_book, id="operation added"),
    pytest.param(lambda root: add_field(root, "AccountInput", "externalId", "tns:Code", minOccurs="0"),
                 id="optional request field added"),
    pytest.param(add_request_only_enumeration, id="new type"),
    pytest.param(widen_request_types, id="request types widened"),
    pytest.param(lambda root: field_element(root, "Account", "parentCode").attrib.pop("minOccurs"),
                 id="response field made always present"),
]


@pytest.mark.parametrize("change", ADDITIVE)
def test_compatible_change_is_not_reported(change):
    assert breaking_changes(committed("11"), mutated(change)) == []
    # Undoing it is breaking: so the change took effect, and the checker read it.
    assert breaking_changes(mutated(change), committed("11")) != []


def test_value_added_to_a_request_only_enumeration_is_not_reported():
    before = mutated(add_request_only_enumeration)

    def add_value(root):
        add_request_only_enumeration(root)
        etree.SubElement(restriction(root, "Priority"), _xsd + "enumeration", value="HIGH")

    assert breaking_changes(before, mutated(add_value)) == []
    assert breaking_changes(mutated(add_value), before) == ["Enumeration Priority lost value HIGH."]


def test_prefixes_do_not_matter():
    renamed = etree.tostring(etree.fromstring(committed("11"))).replace(b"tns:", b"l:").replace(
        b"xmlns:tns=", b"xmlns:l=")
    assert b"tns:" not in renamed
    assert breaking_changes(committed("11"), renamed) == []


# --- ledger-service contract check ---

def contract_check(directory: Path, *options: str) -> subprocess.CompletedProcess:
    """`ledger-service contract check` run from `directory`, so that its default paths apply."""
    return subprocess.run([sys.executable, "-m", "ledger_service.cli", "contract", "check", *options], cwd=directory,
                          capture_output=True, text=True, timeout=120)


def test_contract_check_passes_on_the_repository():
    result = contract_check(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_contract_check_fails_on_a_breaking_change(tmp_path):
    shutil.copytree(WSDL_DIRECTORY, tmp_path / "wsdl")
    (tmp_path / "wsdl" / "soap12.wsdl").write_bytes(
        committed("12").replace(b'<xs:enumeration value="CREDIT"/>', b""))
    result = contract_check(tmp_path)
    assert result.returncode == 1
    assert result.stdout == "soap12.wsdl: Enumeration Side lost value CREDIT.\n"
    assert "would break v1 consumers" in result.stderr


def test_the_contract_check_needs_neither_spyne_nor_the_database():
    """contract/ reads WSDL documents as documents: the CI tool loads nothing of the running service."""
    loaded = subprocess.run([sys.executable, "-c", "import sys, ledger_service.contract.compatibility, "
                             "ledger_service.contract.tables; print(sorted({'spyne', 'sqlalchemy'} & set(sys.modules)))"],
                            capture_output=True, text=True, timeout=60)
    assert (loaded.returncode, loaded.stdout) == (0, "[]\n"), loaded.stderr


def test_contract_check_fails_without_a_baseline(tmp_path):
    result = contract_check(ROOT, "--baseline", str(tmp_path))
    assert result.returncode == 1 and "no baseline WSDL" in result.stderr
