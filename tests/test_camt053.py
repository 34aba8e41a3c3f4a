"""camt.053.001.08 statements (docs/contract.md#camt053): GetCamtStatement on both SOAP versions and both
databases, `ledger-service export camt053` and `ledger-client statement --format camt053`; every document
validated against ISO 20022's schema (tests/schemas)."""
from __future__ import annotations

import re
import subprocess
import sys
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from lxml import etree
from zeep.exceptions import Fault

from conftest import ADMIN, ADMIN_PASSWORD, cli, fault_code, fault_detail, unique
from ledger_client import LedgerClient
from test_client import ledger_client_command

SCHEMA = etree.XMLSchema(etree.parse(str(Path(__file__).parent / "schemas" / "camt.053.001.08.xsd")))
CAMT = {"c": "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"}
JANUARY = (date(2026, 1, 1), date(2026, 1, 31))
SIGN = {"DBIT": 1, "CRDT": -1}


def valid(document: bytes) -> etree._Element:
    """The document parsed, once ISO 20022's schema finds it valid."""
    root = etree.fromstring(document)
    assert SCHEMA.validate(root), SCHEMA.error_log
    return root


def text(element, path: str) -> str:
    return element.findtext(path, namespaces=CAMT)


def balance(root, code: str) -> tuple[Decimal, str, str]:
    """The balance of type `code` as (amount, CdtDbtInd, date)."""
    found = root.xpath(f"//c:Bal[c:Tp/c:CdOrPrtry/c:Cd='{code}']", namespaces=CAMT)
    assert len(found) == 1
    return Decimal(text(found[0], "c:Amt")), text(found[0], "c:CdtDbtInd"), text(found[0], "c:Dt/c:Dt")


def entries(root) -> list[tuple]:
    """Each Ntry as (reference, amount, CdtDbtInd, reversal, booking date, value date, remittance text)."""
    return [(text(n, "c:AcctSvcrRef"), Decimal(text(n, "c:Amt")), text(n, "c:CdtDbtInd"), text(n, "c:RvslInd"),
             text(n, "c:BookgDt/c:Dt"), text(n, "c:ValDt/c:Dt"),
             "".join(n.xpath("c:NtryDtls/c:TxDtls/c:RmtInf/c:Ustrd/text()", namespaces=CAMT)) or None)
            for n in root.iterfind(".//c:Ntry", CAMT)]


def debits_less_credits(root, code: str) -> Decimal:
    amount, indicator, _ = balance(root, code)
    return SIGN[indicator] * amount


def assert_adds_up(root) -> None:
    """Opening + entries = closing, in the document's own terms."""
    moved = sum((SIGN[text(n, "c:CdtDbtInd")] * Decimal(text(n, "c:Amt")) for n in root.iterfind(".//c:Ntry", CAMT)),
                Decimal(0))
    assert debits_less_credits(root, "OPBD") + moved == debits_less_credits(root, "CLBD")


def camt(service, book: str, account: str, period=JANUARY) -> tuple[str, etree._Element]:
    answer = service.GetCamtStatement(book, account, *period)
    assert isinstance(answer.document, bytes) and answer.document.startswith(b"<?xml")
    root = valid(answer.document)
    assert text(root, "c:BkToCstmrStmt/c:GrpHdr/c:MsgId") == answer.messageId
    return answer.messageId, root


@pytest.fixture(scope="module", params=["11", "12"])
def version(request) -> str:
    return request.param


def sales_book(server, version: str):
    book = server.new_book(version, cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    book.post("INV-1", [("cash", "DEBIT", "250.00"), ("sales", "CREDIT", "250.00")], "2026-01-05",
              description="first sale")
    book.post("REFUND-1", [("sales", "DEBIT", "0.50"), ("cash", "CREDIT", "0.50")], "2026-01-20")
    book.service.ReverseEntry(book.code, "INV-1", "REV-1", None, "wrong customer")
    return book


def test_a_debit_normal_account_debits_increase_and_reversals_are_marked(server, version):
    book = sales_book(server, version)
    message_id, root = camt(book.service, book.code, "cash")
    statement = root.find("c:BkToCstmrStmt/c:Stmt", CAMT)
    assert text(statement, "c:Acct/c:Id/c:Othr/c:Id") == "cash"
    assert (text(statement, "c:Acct/c:Ccy"), text(statement, "c:Acct/c:Nm")) == ("USD", "Cash")
    assert text(statement, "c:Acct/c:Ownr/c:Id/c:OrgId/c:Othr/c:Id") == book.code
    assert text(statement, "c:Acct/c:Ownr/c:Nm") == f"Book {book.code}"
    assert (text(statement, "c:FrToDt/c:FrDtTm"), text(statement, "c:FrToDt/c:ToDtTm")) == (
        "2026-01-01T00:00:00", "2026-01-31T23:59:59")
    assert balance(root, "OPBD") == (Decimal("0.00"), "CRDT", "2026-01-01")
    assert balance(root, "CLBD") == (Decimal("0.50"), "CRDT", "2026-01-31")
    assert entries(root) == [
        ("INV-1", Decimal("250.00"), "DBIT", None, "2026-01-05", "2026-01-05", "first sale"),
        ("REV-1", Decimal("250.00"), "CRDT", "true", "2026-01-05", "2026-01-05", "wrong customer"),
        ("REFUND-1", Decimal("0.50"), "CRDT", None, "2026-01-20", "2026-01-20", None)]
    assert [text(n, "c:Sts/c:Cd") for n in root.iterfind(".//c:Ntry", CAMT)] == ["BOOK"] * 3
    assert_adds_up(root)
    # The same statement, fetched again, is the same message.
    assert camt(book.service, book.code, "cash")[0] == message_id


def test_a_credit_normal_account_and_a_positive_debit_balance(server, version):
    book = sales_book(server, version)
    book.post("INV-2", [("cash", "DEBIT", "1000"), ("sales", "CREDIT", "1000")], "2026-01-25")
    _, sales = camt(book.service, book.code, "sales")
    assert balance(sales, "CLBD") == (Decimal("999.50"), "CRDT", "2026-01-31")
    assert [(e[0], e[2], e[3]) for e in entries(sales)] == [
        ("INV-1", "CRDT", None), ("REV-1", "DBIT", "true"), ("REFUND-1", "DBIT", None), ("INV-2", "CRDT", None)]
    assert_adds_up(sales)
    _, cash = camt(book.service, book.code, "cash")
    assert balance(cash, "CLBD") == (Decimal("999.50"), "DBIT", "2026-01-31")
    assert_adds_up(cash)


def test_an_empty_period_and_a_period_across_a_closed_one(server, version):
    book = sales_book(server, version)
    assert book.service.ClosePeriod(book.code, date(2026, 1, 10)).closedThrough == date(2026, 1, 10)
    book.post("INV-2", [("cash", "DEBIT", "7.25"), ("sales", "CREDIT", "7.25")], "2026-02-02")
    _, quiet = camt(book.service, book.code, "cash", (date(2026, 1, 21), date(2026, 1, 31)))
    assert entries(quiet) == []
    assert balance(quiet, "OPBD")[:2] == balance(quiet, "CLBD")[:2] == (Decimal("0.50"), "CRDT")

    _, across = camt(book.service, book.code, "cash", (date(2026, 1, 8), date(2026, 2, 28)))
    assert balance(across, "OPBD") == (Decimal("0.00"), "CRDT", "2026-01-08")
    assert [e[0] for e in entries(across)] == ["REFUND-1", "INV-2"]
    assert balance(across, "CLBD") == (Decimal("6.75"), "DBIT", "2026-02-28")
    assert_adds_up(across)


def test_amounts_keep_the_currency_s_minor_units_and_long_texts_fit(server):
    book = server.new_book(vault=("ASSET", "JPY"), bank=("LIABILITY", "BHD"), fx=("EQUITY", "BHD"), yen=("EQUITY", "JPY"))
    long_reference, long_description = "R" * 100, ("word " * 100)[:499] + "."
    book.post(long_reference, [("vault", "DEBIT", "1200"), ("yen", "CREDIT", "1200")], description=long_description)
    book.post("BHD-1", [("fx", "DEBIT", "1.005"), ("bank", "CREDIT", "1.005")])
    _, vault = camt(book.service, book.code, "vault")
    entry = vault.find(".//c:Ntry", CAMT)
    assert (text(entry, "c:Amt"), entry.find("c:Amt", CAMT).get("Ccy")) == ("1200", "JPY")
    # Longer than AcctSvcrRef's 35 characters: the reference is the entry's additional information instead.
    assert (text(entry, "c:AcctSvcrRef"), text(entry, "c:AddtlNtryInf")) == (None, long_reference)
    assert entries(vault)[0][6] == long_description
    _, bank = camt(book.service, book.code, "bank")
    assert balance(bank, "CLBD")[:2] == (Decimal("1.005"), "CRDT")


def test_refusals(server, version):
    book = sales_book(server, version)
    service = book.service
    assert fault_code(service.GetCamtStatement, book.code, "nowhere", *JANUARY) == "AccountNotFound"
    with pytest.raises(Fault) as reversed_dates:
        service.GetCamtStatement(book.code, "cash", date(2026, 2, 1), date(2026, 1, 1))
    assert fault_detail(reversed_dates.value) == {
        "code": "SchemaValidation", "message": "fromDate must not be after toDate", "field": "toDate"}
    long_code = "a" * 35
    service.OpenAccount(book.code, {"code": long_code, "name": "Long", "type": "ASSET", "currency": "USD"})
    with pytest.raises(Fault) as too_long:
        service.GetCamtStatement(book.code, long_code, *JANUARY)
    assert (fault_detail(too_long.value)["code"], fault_detail(too_long.value)["field"]) == (
        "SchemaValidation", "account")
    stranger, password = server.add_client()
    assert fault_code(server.zeep(stranger, password, version).service.GetCamtStatement, book.code, "cash",
                      *JANUARY) == "NotAuthorized"
    reader, password = server.add_client(grants={book.code: "reader"})
    valid(server.zeep(reader, password, version).service.GetCamtStatement(book.code, "cash", *JANUARY).document)


@pytest.fixture(scope="module")
def crowded_book(sqlite_server):
    """10,001 lines on one account in January: more than one document holds."""
    book = sqlite_server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    entries = [{"reference": f"BULK-{n}", "effectiveDate": "2026-01-15", "lines": {"line": [
        *({"account": "cash", "side": "DEBIT", "amount": "0.01"} for _ in range(lines)),
        {"account": "sales", "side": "CREDIT", "amount": f"{lines / 100:.2f}"}]}}
        for n, lines in enumerate((999,) * 10 + (11,))]
    results = book.service.PostEntries(book.code, {"entry": entries}, True)
    assert all(result.entry is not None for result in results)
    return book


@pytest.mark.parametrize("soap", ["11", "12"])
def test_more_lines_than_a_document_holds_are_refused(sqlite_server, crowded_book, soap):
    service = sqlite_server.zeep(version=soap).service
    with pytest.raises(Fault) as refused:
        service.GetCamtStatement(crowded_book.code, "cash", *JANUARY)
    detail = fault_detail(refused.value)
    assert (detail["code"], detail["field"]) == ("TooManyLines", "toDate") and "10000" in detail["message"]
    # The credit side has 11 lines: that document is made.
    assert len(entries(camt(service, crowded_book.code, "sales")[1])) == 11


def _without_creation_time(document: bytes) -> bytes:
    """The document but for when it was made (GrpHdr/CreDtTm, Stmt/CreDtTm): the rest of two documents of the
    same statement is the same, byte for byte."""
    return re.sub(rb"<CreDtTm>[^<]*</CreDtTm>", b"<CreDtTm/>", document)


# What the scenarios of other SOAP stacks (tests/interop) post on cash, beyond ASCII and with markup, and the
# period of the camt.053 statement they download.
SCENARIO_SALE_DESCRIPTION = "Café crème & <tarte> — 2 €, Zürich"
MARCH = (date(2026, 3, 1), date(2026, 3, 31))


def assert_scenario_statement_written(directory: Path, service, book: str, reference: str, amount: Decimal) -> str:
    """The one document a scenario of another SOAP stack wrote into `directory`, named after its message id
    as the integrators' guide does it: March's statement of cash, after the scenario's one sale (`reference`,
    `amount`, on 2026-03-01). Valid, and the very bytes zeep gets for the same call (but for when each was
    made): no stack decoded, re-encoded or re-serialised it on the way. Its message id."""
    served = service.GetCamtStatement(book, "cash", *MARCH)
    written = directory / f"{served.messageId}.xml"
    assert list(directory.iterdir()) == [written]
    document = written.read_bytes()
    root = valid(document)
    assert text(root, "c:BkToCstmrStmt/c:GrpHdr/c:MsgId") == served.messageId
    assert _without_creation_time(document) == _without_creation_time(served.document)
    assert balance(root, "CLBD") == (amount, "DBIT", "2026-03-31")
    assert entries(root) == [(reference, amount, "DBIT", None, "2026-03-01", "2026-03-01", SCENARIO_SALE_DESCRIPTION)]
    assert_adds_up(root)
    return served.messageId


def test_the_export_command_writes_the_document_the_service_returns(server, tmp_path):
    book = sales_book(server, "11")
    served = book.service.GetCamtStatement(book.code, "cash", *JANUARY)
    env = {"LEDGER_DATABASE_URL": server.database_url}
    target = tmp_path / "cash.xml"
    written = cli("export", "camt053", book.code, "cash", "--from", "2026-01-01", "--to", "2026-01-31", str(target),
                  env=env)
    assert written.returncode == 0, written.stderr
    assert served.messageId in written.stderr and not (tmp_path / "cash.xml.partial").exists()
    assert _without_creation_time(target.read_bytes()) == _without_creation_time(served.document)
    valid(target.read_bytes())
    # Without FILE, the bytes go to stdout as they are.
    to_stdout = subprocess.run([sys.executable, "-m", "ledger_service.cli", "export", "camt053", book.code, "cash",
                                "--from", "2026-01-01", "--to", "2026-01-31"], capture_output=True, timeout=120,
                               env={**server.env, **env})
    assert to_stdout.returncode == 0 and _without_creation_time(to_stdout.stdout) == _without_creation_time(
        served.document)


def test_the_export_command_refuses_what_the_service_refuses(sqlite_server, tmp_path):
    book = sales_book(sqlite_server, "11")
    env = {"LEDGER_DATABASE_URL": sqlite_server.database_url}
    missing = cli("export", "camt053", book.code, "nowhere", "--from", "2026-01-01", "--to", "2026-01-31", env=env)
    assert missing.returncode == 1 and "account nowhere does not exist" in missing.stderr
    reversed_dates = cli("export", "camt053", book.code, "cash", "--from", "2026-02-01", "--to", "2026-01-01", env=env)
    assert reversed_dates.returncode == 1 and "fromDate must not be after toDate" in reversed_dates.stderr
    no_book = cli("export", "camt053", unique("B"), "cash", "--from", "2026-01-01", "--to", "2026-01-31", env=env)
    assert no_book.returncode == 1 and "does not exist" in no_book.stderr
    assert cli("export", "camt053", book.code, "cash", "--from", "January", "--to", "2026-01-31",
               env=env).returncode == 2


def test_the_client_returns_the_document_and_its_command_writes_it(sqlite_server):
    book = sales_book(sqlite_server, "11")
    with LedgerClient(sqlite_server.url, ADMIN, ADMIN_PASSWORD) as client:
        statement = client.get_camt_statement(book.code, "cash", *JANUARY)
    root = valid(statement.document)
    assert text(root, "c:BkToCstmrStmt/c:GrpHdr/c:MsgId") == statement.message_id
    written = ledger_client_command("statement", book.code, "cash", "--from", "2026-01-01", "--to", "2026-01-31",
                                    "--format", "camt053", server=sqlite_server)
    assert written.returncode == 0, written.stderr
    assert _without_creation_time(written.stdout.encode()) == _without_creation_time(statement.document)
    refused = ledger_client_command("statement", book.code, "nowhere", "--from", "2026-01-01", "--to", "2026-01-31",
                                    "--format", "camt053", server=sqlite_server)
    assert refused.returncode == 3 and "AccountNotFound" in refused.stderr


# --- random histories ---

_entry = st.tuples(
    st.integers(min_value=0, max_value=59),  # days after 2025-12-01
    st.sampled_from(["DEBIT", "CREDIT"]),  # cash's side
    st.integers(min_value=1, max_value=10**9),  # minor units
    st.booleans(),  # reversed afterwards
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=st.lists(_entry, max_size=8), start=st.integers(0, 59), length=st.integers(0, 40))
def test_opening_and_entries_make_closing_on_random_histories(sqlite_server, history, start, length):
    book = sqlite_server.new_book(cash=("ASSET", "EUR"), loans=("LIABILITY", "EUR"))
    for n, (days, side, minor, reversed_) in enumerate(history):
        other = "CREDIT" if side == "DEBIT" else "DEBIT"
        amount = f"{Decimal(minor) / 100:.2f}"
        effective = (date(2025, 12, 1) + timedelta(days=days)).isoformat()
        book.post(f"E-{n}", [("cash", side, amount), ("loans", other, amount)], effective)
        if reversed_:
            book.service.ReverseEntry(book.code, f"E-{n}", f"R-{n}", None, None)
    period = (date(2025, 12, 1) + timedelta(days=start), date(2025, 12, 1) + timedelta(days=start + length))
    for account, sign in (("cash", 1), ("loans", -1)):
        _, root = camt(book.service, book.code, account, period)
        assert_adds_up(root)
        paged = book.service.GetStatement(book.code, account, *period, 1000)
        assert debits_less_credits(root, "OPBD") == sign * paged.openingBalance
        assert debits_less_credits(root, "CLBD") == sign * paged.closingBalance
        assert [e[0] for e in entries(root)] == [line.reference for line in (paged.lines.line if paged.lines else ())]
