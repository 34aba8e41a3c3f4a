"""PHP's built-in SoapClient, as PHP integrators use it, against a live server on SOAP 1.1 and 1.2.

The PHP scripts in tests/interop/php build the client from the served WSDL and send the WS-Security
UsernameToken as a hand-written header, since PHP has none of its own. What PHP makes of the contract
(wrapped operations, type names, list items, fault detail) is asserted here on what PHP itself prints. The
scenario also writes a camt.053 statement to a file as docs/integrators.md shows it: the very bytes zeep gets,
since ext-soap decodes base64Binary to a string of bytes and nothing encodes it again; and it tags its sale with
metadata and finds it with ListEntries as the guide shows it, every value as it was given.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from lxml import etree

from conftest import ADMIN, ADMIN_PASSWORD, REQUIRE_INTEROP, require_tools, unique
from snippets import ROOT, assert_program_has_snippet, snippet
from test_camt053 import assert_scenario_statement_written
from test_metadata import SCENARIO_METADATA_PRINTED, assert_scenario_metadata_posted

pytestmark = pytest.mark.interop

PHP_SCRIPTS = Path(__file__).parent / "interop" / "php"
SOAP_VERSIONS = {"11": "1.1", "12": "1.2"}
# The extensions the scripts use (SoapClient; DOMDocument, which reads the camt.053 document), and Debian's
# packages of them.
PHP_EXTENSIONS = {"soap": "php-soap", "dom": "php-xml"}
SENDER_FAULT_CODE = {"11": "Client", "12": "Sender"}
WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"

# How PHP prints contract types whose fields docs/contract.md#types fixes, in schema order. A renamed type, field or
# list item, or a field moved out of order, shows up here as PHP sees it.
CONTRACT_TYPES_AS_PHP_PRINTS_THEM = [
    "string AccountType", "string Side", "string EntryStatus", "string AccountStatus", "string BreakReason",
    "long Sequence",
    "struct Book { Code code; Name name; date closedThrough; }",
    "struct AccountInput { Code code; Name name; AccountType type; CurrencyCode currency; Code parentCode;"
    " boolean noNegativeBalance; }",
    "struct Account { Code code; Name name; AccountType type; CurrencyCode currency; Code parentCode;"
    " boolean noNegativeBalance; AccountStatus status; dateTime openedAt; }",
    "struct AccountPage { AccountArray accounts; PageToken nextPageToken; }",
    "struct AccountArray { Account account; }",
    "struct LineInput { Code account; Side side; decimal amount; Memo memo; }",
    "struct LineInputArray { LineInput line; }",
    "struct EntryInput { Reference reference; date effectiveDate; Description description; LineInputArray lines;"
    " boolean pending; TimeoutSeconds pendingTimeoutSeconds; MetadataItemArray metadata; }",
    "struct Entry { string id; Reference reference; date effectiveDate; dateTime recordedAt; Description description;"
    " EntryStatus status; LineArray lines; dateTime pendingExpiresAt; Reference reversalOf; Reference reversedBy;"
    " MetadataItemArray metadata; }",
    "struct EntryArray { Entry entry; }",
    "struct EntryPage { EntryArray entries; PageToken nextPageToken; }",
    "struct MetadataItem { MetadataKey key; MetadataValue value; }",
    "struct MetadataItemArray { MetadataItem item; }",
    "struct Line { Code account; Side side; decimal amount; CurrencyCode currency; Memo memo; }",
    "struct LineArray { Line line; }",
    "struct Balance { Code account; CurrencyCode currency; date asOf; decimal postedDebits; decimal postedCredits;"
    " decimal pendingDebits; decimal pendingCredits; decimal balance; decimal availableBalance; }",
    "struct Statement { Code account; CurrencyCode currency; date fromDate; date toDate; decimal openingBalance;"
    " decimal closingBalance; StatementLineArray lines; PageToken nextPageToken; }",
    "struct StatementLine { Reference reference; date effectiveDate; Description description; Side side;"
    " decimal amount; decimal runningBalance; }",
    "struct StatementLineArray { StatementLine line; }",
    "struct TrialBalance { date asOf; TrialBalanceRowArray rows; CurrencyTotalArray totals; }",
    "struct TrialBalanceRow { Code account; Name name; AccountType type; CurrencyCode currency; decimal debit;"
    " decimal credit; }",
    "struct TrialBalanceRowArray { TrialBalanceRow row; }",
    "struct CurrencyTotal { CurrencyCode currency; decimal debit; decimal credit; }",
    "struct CurrencyTotalArray { CurrencyTotal total; }",
    "struct LedgerFault { string code; string message; string field; int index; }",
    "struct JournalHead { Code book; Sequence sequence; Hash hash; dateTime recordedAt; }",
    "struct JournalVerification { Code book; Sequence fromSequence; Sequence toSequence; Sequence recordsChecked;"
    " Hash headHash; boolean intact; JournalBreak firstBreak; }",
    "struct JournalBreak { Sequence sequence; BreakReason reason; }",
    # A wrapper element carries the operation's parameters by name, in the order docs/contract.md#operations lists them.
    "struct GetBalance { Code book; Code account; date asOf; }",
    "struct GetBalanceResponse { Balance balance; }",
    "struct PostEntry { Code book; EntryInput entry; }",
    "struct GetStatement { Code book; Code account; date fromDate; date toDate; PageSize pageSize;"
    " PageToken pageToken; }",
    "struct VerifyJournal { Code book; Sequence fromSequence; Sequence toSequence; }",
    "struct ListEntries { Code book; date fromDate; date toDate; Code account; MetadataKey metadataKey;"
    " MetadataValue metadataValue; PageSize pageSize; PageToken pageToken; }",
    "struct ListEntriesResponse { EntryPage page; }",
]


@pytest.fixture(scope="module")
def php() -> str:
    """The php command, once it is known to have PHP_EXTENSIONS (skips, or fails in CI, otherwise)."""
    require_tools("php", packages="php-cli php-soap php-xml")
    modules = subprocess.run(["php", "-m"], capture_output=True, text=True, timeout=60).stdout.split()
    missing = [extension for extension in PHP_EXTENSIONS if extension not in modules]
    if missing:
        message = (f"PHP has no {' or '.join(missing)} extension "
                   f"(apt-get install {' '.join(PHP_EXTENSIONS[extension] for extension in missing)})")
        if REQUIRE_INTEROP:
            pytest.fail(message)
        pytest.skip(message)
    return "php"


def run_php(php: str, script: str, *args: str, username: str = ADMIN, password: str = ADMIN_PASSWORD,
            directory: Path | None = None) -> str:
    """What the script prints (UTF-8: PHP writes its strings' bytes as they are), run in `directory` (where it
    writes its files) or in this process's."""
    completed = subprocess.run(
        [php, str(PHP_SCRIPTS / script), *args], capture_output=True, encoding="utf-8", timeout=60,
        env={**os.environ, "LEDGER_USERNAME": username, "LEDGER_PASSWORD": password}, cwd=directory)
    assert completed.returncode == 0, f"{script} exited {completed.returncode}:\n{completed.stdout}\n{completed.stderr}"
    return completed.stdout


def wsdl_url(server, version: str) -> str:
    return f"{server.endpoint(version)}?wsdl"


def call_from_php(php: str, server, version: str, operation: str, parameters: dict, **credentials) -> dict:
    """One operation's outcome as PHP decoded it: {"result": …} or {"fault": {faultcode, faultstring, detail}}."""
    output = run_php(php, "call.php", wsdl_url(server, version), SOAP_VERSIONS[version], operation,
                     json.dumps(parameters), **credentials)
    return json.loads(output)


def one_line_per_type(php_type: str) -> str:
    return re.sub(r"\s+", " ", php_type).strip()


@pytest.mark.parametrize("version", ["11", "12"])
def test_php_runs_the_whole_scenario(php, sqlite_server, version, tmp_path):
    book = unique("PHP")
    output = run_php(php, "scenario.php", wsdl_url(sqlite_server, version), SOAP_VERSIONS[version], book,
                     directory=tmp_path)
    service = sqlite_server.zeep(version=version).service
    message_id = assert_scenario_statement_written(tmp_path, service, book, "PHP-1", Decimal("1234.50"))

    assert output.splitlines() == [
        f"book={book}",
        "account=cash ASSET USD",
        "account=sales INCOME USD",
        "entry=PHP-1 POSTED lines=2",
        f"entry_metadata={SCENARIO_METADATA_PRINTED}",
        f"get_entry_metadata={SCENARIO_METADATA_PRINTED}",
        f"listed=PHP-1 {SCENARIO_METADATA_PRINTED}",
        "balance=1234.50",
        "statement_lines=1",
        "statement_line=PHP-1 DEBIT 1234.50 running=1234.50",
        "closing_balance=1234.50",
        f"camt_message_id={message_id}",
        f"camt_document_message_id={message_id}",
        f"faultcode={'soap11env:Client' if version == '11' else 'soap12env:Sender'}",
        f"faultcode_name={SENDER_FAULT_CODE[version]}",
        "fault=Unbalanced",
        "fault_field=entry.lines",
    ]
    # What PHP posted is really in the ledger, and the rejected entry left nothing behind.
    assert service.GetBalance(book, "cash").balance == Decimal("1234.50")
    assert_scenario_metadata_posted(service, book, "PHP-1")


def test_the_scenario_downloads_the_camt_statement_as_the_guide_shows_it():
    guide = snippet(ROOT / "docs" / "integrators.md", "A camt.053 statement ([docs/contract.md](contract.md#camt053)): "
                    "ext-soap", "php")
    assert_program_has_snippet(PHP_SCRIPTS / "scenario.php", guide)


def test_the_scenario_tags_and_finds_an_entry_as_the_guide_shows_it():
    for after in ["Metadata ([docs/contract.md](contract.md#metadata)) goes in the entry as",
                  "`ListEntries` ([docs/contract.md](contract.md#listentries)) pages through"]:
        guide = snippet(ROOT / "docs" / "integrators.md", after, "php")
        assert_program_has_snippet(PHP_SCRIPTS / "scenario.php", guide)


@pytest.mark.parametrize("version", ["11", "12"])
def test_php_sees_every_operation_as_wrapped(php, sqlite_server, version):
    wsdl = etree.fromstring(requests.get(wsdl_url(sqlite_server, version), timeout=60).content)
    operations = [op.get("name") for op in wsdl.iterfind(f"{{{WSDL_NS}}}portType/{{{WSDL_NS}}}operation")]
    assert "GetBalance" in operations

    functions = json.loads(run_php(php, "describe.php", wsdl_url(sqlite_server, version), SOAP_VERSIONS[version]))[
        "functions"]

    # PHP always prints a document/literal operation as taking its wrapper; the part named `parameters`
    # (not after the element) is what tells wrapped-aware stacks to unwrap it into book, account, ….
    assert sorted(functions) == sorted(f"{op}Response {op}({op} $parameters)" for op in operations)


def test_php_reads_the_contract_types_by_their_spec_names(php, sqlite_server):
    types = json.loads(run_php(php, "describe.php", wsdl_url(sqlite_server, "11"), "1.1"))["types"]

    printed = {one_line_per_type(php_type) for php_type in types}
    assert [expected for expected in CONTRACT_TYPES_AS_PHP_PRINTS_THEM if expected not in printed] == []


@pytest.mark.parametrize("version", ["11", "12"])
def test_php_fault_detail_is_exactly_the_ledger_fault(php, sqlite_server, version):
    book = sqlite_server.new_book(version, cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    unbalanced = {"book": book.code, "entry": {"reference": "PHP-U", "effectiveDate": "2026-03-02", "lines": {
        "line": [{"account": "cash", "side": "DEBIT", "amount": "10.00"},
                 {"account": "sales", "side": "CREDIT", "amount": "9.99"}]}}}

    fault = call_from_php(php, sqlite_server, version, "PostEntry", unbalanced)["fault"]

    assert fault["faultcode"].rpartition(":")[2] == SENDER_FAULT_CODE[version]
    assert fault["faultstring"]
    assert fault["detail"] == {"LedgerFault": {"code": "Unbalanced", "message": fault["faultstring"],
                                               "field": "entry.lines"}}


@pytest.mark.parametrize("version", ["11", "12"])
def test_php_with_a_wrong_password_gets_authentication_failed(php, sqlite_server, version):
    book = sqlite_server.new_book(version, cash=("ASSET", "USD"))

    fault = call_from_php(php, sqlite_server, version, "GetBalance", {"book": book.code, "account": "cash"},
                          password=ADMIN_PASSWORD + "-wrong")["fault"]

    assert fault["faultcode"].rpartition(":")[2] == SENDER_FAULT_CODE[version]
    assert fault["detail"]["LedgerFault"]["code"] == "AuthenticationFailed"
