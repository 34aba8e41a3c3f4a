"""The Python SOAP stacks integrators use, zeep and suds-community, driven the way their own documentation
shows: client built from the live ?wsdl, WS-Security UsernameToken from the stack itself, wrapped calls with
plain Python values, the typed LedgerFault read from the stack's fault.

zeep speaks SOAP 1.1 and 1.2 and runs the scenario on both. suds speaks only SOAP 1.1: it reads the SOAP 1.2
WSDL, but always writes a SOAP 1.1 envelope, which the SOAP 1.2 endpoint answers with VersionMismatch.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from lxml import etree
from suds import WebFault
from suds.client import Client as SudsClient
from suds.wsse import Security, UsernameToken as SudsUsernameToken
from zeep import Client, Plugin, Settings
from zeep.exceptions import Fault, ValidationError
from zeep.wsse.username import UsernameToken

from conftest import ADMIN, ADMIN_PASSWORD, SOAP_ENV, TNS, WSSE_NS, unique
from snippets import ROOT, snippet
from test_metadata import SCENARIO_METADATA, shown

CALLER_FAULT = {"11": "Client", "12": "Sender"}
ACCOUNTS = [{"code": "cash", "name": "Cash", "type": "ASSET", "currency": "USD"},
            {"code": "sales", "name": "Sales", "type": "INCOME", "currency": "USD"}]
# 0.10 + 0.20 is 0.30000000000000004 in binary floating point: only a decimal path end to end gives 0.30.
BALANCED = [("cash", "DEBIT", "0.10"), ("cash", "DEBIT", "0.20"), ("sales", "CREDIT", "0.30")]
UNBALANCED = [("cash", "DEBIT", "5.00"), ("sales", "CREDIT", "4.99")]
YEAR = (date(2026, 1, 1), date(2026, 12, 31))


def entry(reference: str, lines: list[tuple[str, str, str]]) -> dict:
    return {"reference": reference, "effectiveDate": date(2026, 3, 1),
            "lines": {"line": [{"account": account, "side": side, "amount": Decimal(amount)}
                               for account, side, amount in lines]}}


def open_book(service, stack: str) -> str:
    code = unique(stack)
    assert service.CreateBook(code, f"{stack} integration").code == code
    for account in ACCOUNTS:
        assert service.OpenAccount(code, account).status == "OPEN"
    return code


def assert_exactly_thirty_cents(amount) -> None:
    assert isinstance(amount, Decimal) and str(amount) == "0.30", repr(amount)


# --- zeep ---

def zeep_client(server, version: str, plugins=()) -> Client:
    # strict is zeep's default and governs reading replies; zeep checks required request fields either way.
    return Client(f"{server.endpoint(version)}?wsdl", wsse=UsernameToken(ADMIN, ADMIN_PASSWORD),
                  settings=Settings(strict=True), plugins=list(plugins))


@pytest.mark.parametrize("version", ["11", "12"], ids=["soap11", "soap12"])
def test_zeep_integrator_scenario(sqlite_server, version):
    client = zeep_client(sqlite_server, version)
    service = client.service
    book = open_book(service, "ZEEP")

    posted = service.PostEntry(book, entry("SALE-1", BALANCED))
    assert (posted.status, [line.amount for line in posted.lines.line]) == (
        "POSTED", [Decimal("0.10"), Decimal("0.20"), Decimal("0.30")])
    balance = service.GetBalance(book, "cash")
    assert_exactly_thirty_cents(balance.balance)
    assert_exactly_thirty_cents(balance.postedDebits)

    page = service.GetStatement(book, "cash", *YEAR, pageSize=1)
    assert [(line.reference, line.amount, line.runningBalance) for line in page.lines.line] == [
        ("SALE-1", Decimal("0.10"), Decimal("0.10"))]
    assert page.nextPageToken

    with pytest.raises(Fault) as caught:
        service.PostEntry(book, entry("SALE-2", UNBALANCED))
    fault = caught.value
    assert fault.code.endswith(":" + CALLER_FAULT[version])
    [detail] = fault.detail
    assert detail.tag == f"{{{TNS}}}LedgerFault"
    # zeep hands over the detail as XML; the WSDL's own LedgerFault type turns it into an object.
    ledger_fault = client.get_element(f"{{{TNS}}}LedgerFault").parse(detail, client.wsdl.types)
    assert (ledger_fault.code, ledger_fault.field) == ("Unbalanced", "entry.lines")
    assert_exactly_thirty_cents(service.GetBalance(book, "cash").balance)


def test_zeep_tags_and_finds_an_entry_as_the_guide_shows_it(sqlite_server):
    """docs/integrators.md's zeep metadata and ListEntries blocks, run as written after its first block's
    `ledger` and `entry`, on a fresh book in place of its ACME."""
    service = zeep_client(sqlite_server, "11").service
    book = open_book(service, "ZEEP")
    guide = {"ledger": service, "date": date, "entry": entry("INV-1001", BALANCED)}
    for after in ["Metadata ([docs/contract.md](contract.md#metadata)) is a dict",
                  "ListEntries ([docs/contract.md](contract.md#listentries)) pages through"]:
        exec(snippet(ROOT / "docs" / "integrators.md", after, "python").replace('"ACME"', repr(book)), guide)
    assert guide["shown"] == SCENARIO_METADATA
    assert [(found.reference, shown(found)) for found in guide["found"]] == [("INV-1003", SCENARIO_METADATA)]


@pytest.mark.parametrize("version", ["11", "12"], ids=["soap11", "soap12"])
def test_zeep_reads_the_operations_as_wrapped(sqlite_server, version):
    binding = zeep_client(sqlite_server, version).wsdl.services["LedgerService"].ports["Ledger"].binding

    def parameter_names(signature: str) -> list[str]:
        return [parameter.split(":")[0] for parameter in signature.split(", ")]

    get_balance = binding.get("GetBalance")
    assert str(get_balance.input.body.qname) == f"{{{TNS}}}GetBalance"
    assert parameter_names(get_balance.input.signature()) == ["book", "account", "asOf"]
    assert parameter_names(get_balance.output.signature(as_output=True)) == ["balance"]
    assert parameter_names(binding.get("OpenAccount").input.signature()) == ["book", "account"]


class SentRequests(Plugin):
    """Every request zeep puts on the wire, as (operation, HTTP headers)."""

    def __init__(self):
        self.sent = []

    def egress(self, envelope, http_headers, operation, binding_options):
        self.sent.append((operation.name, dict(http_headers)))
        return envelope, http_headers


def test_zeep_refuses_a_missing_required_field_before_sending(sqlite_server):
    recorder = SentRequests()
    service = zeep_client(sqlite_server, "11", [recorder]).service
    with pytest.raises(ValidationError, match="Missing element currency"):
        service.OpenAccount(unique("BOOK"), {"code": "petty", "name": "Petty cash", "type": "ASSET"})
    assert recorder.sent == []
    # The recorder does see what zeep sends: here, the WSDL's soapAction, quoted (WS-I R2744).
    with pytest.raises(Fault):
        service.GetAccount(unique("BOOK"), "petty")
    assert recorder.sent == [("GetAccount", {"SOAPAction": '"GetAccount"', "Content-Type": "text/xml; charset=utf-8"})]


# --- suds ---

def suds_client(server, version: str = "11") -> SudsClient:
    # Every test server is new; suds's default disk cache of WSDLs would outlive it.
    client = SudsClient(f"{server.endpoint(version)}?wsdl", cache=None)
    security = Security()
    security.tokens.append(SudsUsernameToken(ADMIN, ADMIN_PASSWORD))
    client.set_options(wsse=security)
    return client


def test_suds_integrator_scenario(sqlite_server):
    client = suds_client(sqlite_server)
    service = client.service
    book = open_book(service, "SUDS")

    assert service.PostEntry(book, entry("SALE-1", BALANCED)).status == "POSTED"
    balance = service.GetBalance(book, "cash")
    assert_exactly_thirty_cents(balance.balance)
    # suds marks its wsse:Security header with an unqualified mustUnderstand="true"; the calls above
    # passed authentication with it.
    sent = etree.fromstring(str(client.last_sent()).encode())
    assert sent.find(f"{{{SOAP_ENV['11']}}}Header/{{{WSSE_NS}}}Security").attrib == {"mustUnderstand": "true"}

    page = service.GetStatement(book, "cash", *YEAR, 1)
    assert [(line.reference, line.amount, line.runningBalance) for line in page.lines.line] == [
        ("SALE-1", Decimal("0.10"), Decimal("0.10"))]
    assert page.nextPageToken

    with pytest.raises(WebFault) as caught:
        service.PostEntry(book, entry("SALE-2", UNBALANCED))
    fault = caught.value.fault
    assert fault.faultcode.endswith(":Client")
    assert (fault.detail.LedgerFault.code, fault.detail.LedgerFault.field) == ("Unbalanced", "entry.lines")
    assert_exactly_thirty_cents(service.GetBalance(book, "cash").balance)


def test_suds_reads_the_operations_as_wrapped(sqlite_server):
    listing = str(suds_client(sqlite_server).sd[0])
    assert "GetBalance(Code book, Code account, xs:date asOf)" in listing
    assert "OpenAccount(Code book, AccountInput account)" in listing
    assert "PostEntry(Code book, EntryInput entry)" in listing
    assert "parameters" not in listing


def test_suds_sends_a_missing_required_field_and_the_service_names_it(sqlite_server):
    # suds does not check required fields; the service's schema validation does, before any handler.
    with pytest.raises(WebFault) as caught:
        suds_client(sqlite_server).service.OpenAccount(
            unique("BOOK"), {"code": "petty", "name": "Petty cash", "type": "ASSET"})
    ledger_fault = caught.value.fault.detail.LedgerFault
    assert (ledger_fault.code, ledger_fault.field) == ("SchemaValidation", "account.currency")


def test_suds_speaks_only_soap_11(sqlite_server):
    client = suds_client(sqlite_server, "12")
    with pytest.raises(WebFault) as caught:
        client.service.GetBalance(unique("BOOK"), "cash")
    assert etree.fromstring(str(client.last_sent()).encode()).tag == f"{{{SOAP_ENV['11']}}}Envelope"
    assert caught.value.fault.faultcode.endswith(":VersionMismatch")
