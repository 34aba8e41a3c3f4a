"""Java integrators (docs/contract.md#contract-rules, #operations, #faults, #security): a JAX-WS client that
`wsimport` generates from the live WSDL runs the ledger scenario on SOAP 1.1 and SOAP 1.2, and the code it
generates is what a Java developer expects: one method per operation with the parameters of
docs/contract.md#operations, a typed fault, required fields that cannot be null, money as BigDecimal, no
JAXBElement wrappers. The scenario also writes a camt.053 statement to a file as docs/integrators.md shows it:
the very bytes zeep gets, since JAX-WS decodes base64Binary to a byte[] and nothing encodes it again; and it
tags its sale with metadata and finds it with ListEntries as the guide shows it, every value as it was given.

The Java side is tests/interop/java: Scenario.java drives the generated classes; UsernameTokenHandler.java
adds the WS-Security header as a JAX-WS SOAPHandler. wsimport's output is cached under
$XDG_CACHE_HOME/soap-ledger/wsimport/<SHA-256 of the WSDL, address left out>, so it runs again only when
the contract changes.
"""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from conftest import ADMIN, ADMIN_PASSWORD, SOAP_ENV, TNS, require_tools, unique
from generated_clients import (
    assert_only_the_balanced_entry_posted, fetch_wsdl, generated_once, scenario_lines, scenario_seen,
)
from java import classpath, jars
from snippets import ROOT, assert_program_has_snippet, snippet
from test_camt053 import assert_scenario_statement_written

pytestmark = pytest.mark.interop

JAVA_SOURCES = Path(__file__).resolve().parent / "interop" / "java"
SCENARIO = "ledger.interop.Scenario"
SCENARIO_SOURCE = JAVA_SOURCES / "ledger" / "interop" / "Scenario.java"
PACKAGE = "ledger.client"
XSD = "http://www.w3.org/2001/XMLSchema"
# What javac needs for Scenario.java: the APIs it and the generated classes name.
COMPILE_JARS = ["jaxws-api", "javax.xml.soap-api", "jaxb-api", "jws-api"]
# The JAX-WS RI 2.3 client runtime: found by running the scenario with every jar's manifest Class-Path
# removed (Debian's jaxws-rt.jar names all its dependencies there, many of them not needed by a client).
RUNTIME_JARS = COMPILE_JARS + [
    "jaxws-rt", "saaj-impl", "jaxb-impl", "jaxb-core", "javax.activation", "istack-commons-runtime",
    "stax-ex", "streambuffer", "metro-policy", "gmbal", "xml-resolver"]
# javax.xml.soap-api 1.4 warns on every message that saaj-impl registers itself the old way; naming the
# factory silences that and leaves stderr for real problems.
JAVA_OPTIONS = ["-Djavax.xml.soap.SAAJMetaFactory=com.sun.xml.messaging.saaj.soap.SAAJMetaFactoryImpl"]
# JAX-WS 2 standardises only the SOAP 1.1 WSDL binding; the RI reads a soap12 binding as its own extension.
WSIMPORT_OPTIONS = {"11": [], "12": ["-extension"]}
EXPECTED_WSIMPORT_WARNINGS = {"11": [], "12": ['[WARNING] SOAP port "Ledger": uses a non-standard SOAP 1.2 binding.']}


def wsimport(wsdl_url: str, wsdl: bytes, options: list[str]) -> Path:
    """The sources and classes wsimport generates from the WSDL at `wsdl_url`, and its output in
    wsimport.log, from the cache when this contract (`wsdl`, as served there) was seen before."""
    arguments = [*options, "-keep", "-p", PACKAGE]
    return generated_once("wsimport", wsdl, arguments, lambda staging: subprocess.run(
        ["wsimport", *arguments, "-s", str(staging), "-d", str(staging), wsdl_url],
        capture_output=True, text=True, timeout=300))


def jaxws_jars(names: list[str]) -> list[Path]:
    return jars(names, packages="jaxws")


def compile_scenario(generated: Path, output: Path) -> Path:
    sources = sorted(str(path) for path in JAVA_SOURCES.rglob("*.java"))
    # The sources are UTF-8 whatever the locale, which before Java 18 javac would read them in.
    result = subprocess.run(["javac", "-encoding", "UTF-8", "-d", str(output),
                             "-cp", classpath(generated, *jaxws_jars(COMPILE_JARS)), *sources],
                            capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        pytest.fail(f"javac failed on tests/interop/java:\n{result.stdout}{result.stderr}")
    return output


@dataclass(frozen=True)
class JavaClient:
    """A client wsimport generated from one binding's WSDL, and the scenario compiled against it."""

    version: str
    endpoint: str
    wsdl: bytes = field(repr=False)
    generated: Path
    scenario_classes: Path

    def source(self, class_name: str) -> str:
        return (self.generated / PACKAGE.replace(".", "/") / f"{class_name}.java").read_text()

    def wsimport_log(self) -> str:
        return (self.generated / "wsimport.log").read_text()

    def run_scenario(self, username: str, password: str, book: str, directory: Path) -> subprocess.CompletedProcess:
        """The scenario, run in `directory`, where it writes its camt.053 document."""
        return subprocess.run(
            ["java", *JAVA_OPTIONS, "-cp", classpath(self.scenario_classes, self.generated, *jaxws_jars(RUNTIME_JARS)),
             SCENARIO, self.endpoint, username, password, book], capture_output=True, encoding="utf-8", timeout=300,
            cwd=directory)

    def scenario_output(self, username: str, password: str, book: str, directory: Path) -> dict[str, str]:
        return scenario_lines(self.run_scenario(username, password, book, directory))


@pytest.fixture(scope="module", params=["11", "12"], ids=["soap11", "soap12"])
def java_client(request, tmp_path_factory) -> JavaClient:
    require_tools("wsimport", "javac", "java", packages="jaxws default-jdk-headless")
    server = request.getfixturevalue("sqlite_server")  # only once the tools are known to be there
    version = request.param
    wsdl_url, wsdl = fetch_wsdl(server, version)
    generated = wsimport(wsdl_url, wsdl, WSIMPORT_OPTIONS[version])
    return JavaClient(version, server.endpoint(version), wsdl, generated,
                      compile_scenario(generated, tmp_path_factory.mktemp("scenario")))


# --- the scenario, end to end ---

def test_generated_client_runs_the_ledger_scenario(java_client, sqlite_server, tmp_path):
    book = unique("JAVA")
    output = java_client.scenario_output(ADMIN, ADMIN_PASSWORD, book, tmp_path)
    message_id = assert_scenario_statement_written(
        tmp_path, sqlite_server.zeep(version=java_client.version).service, book, "SALE-1", Decimal("100.25"))
    assert output == {**scenario_seen(book), "soap.envelope": SOAP_ENV[java_client.version],
                      "camt.messageId": message_id}
    assert_only_the_balanced_entry_posted(sqlite_server, java_client.version, book)


def test_the_scenario_downloads_the_camt_statement_as_the_guide_shows_it():
    guide = snippet(ROOT / "docs" / "integrators.md", "A camt.053 statement (`GetCamtStatement`", "java")
    assert_program_has_snippet(SCENARIO_SOURCE, guide)


def test_the_scenario_tags_and_finds_an_entry_as_the_guide_shows_it():
    for after in ["Metadata ([docs/contract.md](contract.md#metadata)): `EntryInput`",
                  "`listEntries` ([docs/contract.md](contract.md#listentries))"]:
        assert_program_has_snippet(SCENARIO_SOURCE, snippet(ROOT / "docs" / "integrators.md", after, "java"))


def test_wrong_password_reaches_the_java_client_as_the_typed_fault(java_client, tmp_path):
    result = java_client.run_scenario(ADMIN, "not-the-password", unique("JAVA"), tmp_path)
    assert result.returncode == 1
    assert "unexpected fault AuthenticationFailed" in result.stderr, result.stderr


# --- the generated code ---

# docs/contract.md#operations as a Java developer calls them: wrapped style
# unwraps each request element into parameters, in the contract's order, and each response into its result.
JAVA_OPERATIONS = {
    "createBook": "Book createBook(String code, String name)",
    "openAccount": "Account openAccount(String book, AccountInput account)",
    "getAccount": "Account getAccount(String book, String code)",
    "listAccounts": "AccountPage listAccounts(String book, AccountType type, String codePrefix, Integer pageSize, "
                    "String pageToken)",
    "closeAccount": "Account closeAccount(String book, String code)",
    "postEntry": "Entry postEntry(String book, EntryInput entry)",
    "postEntries": "EntryResultArray postEntries(String book, EntryInputArray entries, boolean atomic)",
    "commitPending": "Entry commitPending(String book, String reference, LineInputArray lines)",
    "voidPending": "Entry voidPending(String book, String reference, String reason)",
    "getEntry": "Entry getEntry(String book, String reference)",
    "getEntryAudit": "EntryAudit getEntryAudit(String book, String reference)",
    "reverseEntry": "Entry reverseEntry(String book, String reference, String reversalReference, "
                    "XMLGregorianCalendar effectiveDate, String reason)",
    "getBalance": "Balance getBalance(String book, String account, XMLGregorianCalendar asOf)",
    "getStatement": "Statement getStatement(String book, String account, XMLGregorianCalendar fromDate, "
                    "XMLGregorianCalendar toDate, Integer pageSize, String pageToken)",
    "getTrialBalance": "TrialBalance getTrialBalance(String book, XMLGregorianCalendar asOf)",
    "closePeriod": "Book closePeriod(String book, XMLGregorianCalendar throughDate)",
    "listEntries": "EntryPage listEntries(String book, XMLGregorianCalendar fromDate, XMLGregorianCalendar toDate, "
                   "String account, String metadataKey, String metadataValue, Integer pageSize, String pageToken)",
    "getJournalHead": "JournalHead getJournalHead(String book)",
    "verifyJournal": "JournalVerification verifyJournal(String book, Long fromSequence, Long toSequence)",
    "getCamtStatement": "CamtStatement getCamtStatement(String book, String account, XMLGregorianCalendar fromDate, "
                        "XMLGregorianCalendar toDate)",
}
MONEY_FIELDS = {
    "Balance": ["postedDebits", "postedCredits", "pendingDebits", "pendingCredits", "balance", "availableBalance"],
    "LineInput": ["amount"],
    "Line": ["amount"],
    "Statement": ["openingBalance", "closingBalance"],
    "StatementLine": ["amount", "runningBalance"],
    "TrialBalanceRow": ["debit", "credit"],
    "CurrencyTotal": ["debit", "credit"],
}
# The lists of docs/contract.md#contract-rules: (owner, getter, wrapper class, item getter, item class).
LISTS = [
    ("Entry", "getLines", "LineArray", "getLine", "Line"),
    ("EntryInput", "getLines", "LineInputArray", "getLine", "LineInput"),
    ("Statement", "getLines", "StatementLineArray", "getLine", "StatementLine"),
    ("AccountPage", "getAccounts", "AccountArray", "getAccount", "Account"),
    ("TrialBalance", "getRows", "TrialBalanceRowArray", "getRow", "TrialBalanceRow"),
    ("TrialBalance", "getTotals", "CurrencyTotalArray", "getTotal", "CurrencyTotal"),
    ("EntryPage", "getEntries", "EntryArray", "getEntry", "Entry"),
    ("Entry", "getMetadata", "MetadataItemArray", "getItem", "MetadataItem"),
    ("EntryInput", "getMetadata", "MetadataItemArray", "getItem", "MetadataItem"),
]
PRIMITIVES = {"boolean", "byte", "short", "int", "long", "float", "double", "char"}


def without_comments(source: str) -> str:
    return re.sub(r"/\*.*?\*/|//[^\n]*", "", source, flags=re.S)


def declarations(source: str) -> str:
    """Java source without comments and annotations, whitespace collapsed: its names and types."""
    source = re.sub(r"\s+", " ", re.sub(r"@\w+(\([^()]*\))?", "", without_comments(source)))
    return re.sub(r"(?<=\() | (?=[);])", "", source)


@dataclass(frozen=True)
class JavaField:
    name: str
    type: str
    annotations: str


_FIELD = re.compile(r"((?:@\w+(?:\([^()]*\))?\s+)*)protected\s+([\w.<>\[\]]+)\s+(\w+);")


def fields(source: str) -> dict[str, JavaField]:
    """A generated class's fields by name, in declaration (= schema) order."""
    return {name: JavaField(name, type, annotations)
            for annotations, type, name in _FIELD.findall(without_comments(source))}


def field_types(source: str) -> dict[str, str]:
    return {name: java_field.type for name, java_field in fields(source).items()}


def schema_fields(wsdl: bytes) -> dict[str, list[tuple[str, bool, bool]]]:
    """Each complex type's elements as (name, required, repeated), from the WSDL's schema."""
    schema = etree.fromstring(wsdl)
    return {
        complex_type.get("name"): [(element.get("name"), element.get("minOccurs", "1") != "0",
                                    element.get("maxOccurs", "1") != "1")
                                   for element in complex_type.iter(f"{{{XSD}}}element")]
        for complex_type in schema.iter(f"{{{XSD}}}complexType")
    }


def test_wsimport_reports_no_warnings(java_client):
    """No parameterOrder hint ignored, no operation left out or mapped another way; on SOAP 1.2 only the
    notice that the binding is an extension to JAX-WS."""
    log = java_client.wsimport_log()
    problems = [line for line in log.splitlines() if line.startswith(("[WARNING]", "[ERROR]"))]
    assert problems == EXPECTED_WSIMPORT_WARNINGS[java_client.version], log


def test_every_operation_is_a_wrapped_method_with_the_contract_parameters(java_client):
    interface = declarations(java_client.source("Ledger"))
    method = r"public (\w+ (\w+)\([^)]*\)) throws LedgerFault_Exception;"
    methods = {name: signature for signature, name in re.findall(method, interface)}
    assert methods == JAVA_OPERATIONS


def test_ledger_fault_is_a_typed_exception_carrying_the_declared_detail(java_client):
    exception = java_client.source("LedgerFault_Exception")
    assert f'@WebFault(name = "LedgerFault", targetNamespace = "{TNS}")' in exception
    assert "public class LedgerFault_Exception extends Exception" in declarations(exception)
    assert "public LedgerFault getFaultInfo()" in declarations(exception)

    detail = declarations(java_client.source("LedgerFault"))
    for getter in ["String getCode()", "String getMessage()", "String getField()", "Integer getIndex()"]:
        assert f"public {getter}" in detail


def test_generated_fields_follow_the_schema(java_client):
    """Required elements become non-nullable fields (primitive, or @XmlElement(required = true)), optional
    ones nullable wrappers, repeated ones lists; none is a JAXBElement (what nillable optional elements
    turn into)."""
    for type_name, elements in schema_fields(java_client.wsdl).items():
        generated = fields(java_client.source(type_name))
        assert list(generated) == [name for name, _, _ in elements], type_name
        for name, required, repeated in elements:
            java_field, where = generated[name], f"{type_name}.{name}"
            assert "JAXBElement" not in java_field.type and "nillable" not in java_field.annotations, where
            if repeated:
                assert java_field.type.startswith("List<"), where
            elif required:
                assert java_field.type in PRIMITIVES or "required = true" in java_field.annotations, where
            else:
                assert java_field.type not in PRIMITIVES and "required = true" not in java_field.annotations, where


def test_required_flags_are_primitives_and_optional_numbers_are_wrappers(java_client):
    assert field_types(java_client.source("Account"))["noNegativeBalance"] == "boolean"
    assert field_types(java_client.source("AccountInput"))["noNegativeBalance"] == "Boolean"
    assert field_types(java_client.source("LedgerFault"))["index"] == "Integer"
    assert "public boolean isNoNegativeBalance()" in declarations(java_client.source("Account"))


def test_money_is_big_decimal(java_client):
    for class_name, money in MONEY_FIELDS.items():
        types = field_types(java_client.source(class_name))
        assert {name: types[name] for name in money} == {name: "BigDecimal" for name in money}, class_name


def test_lists_are_wrappers_of_items_named_in_the_singular(java_client):
    for owner, getter, wrapper, item_getter, item in LISTS:
        assert f"public {wrapper} {getter}()" in declarations(java_client.source(owner)), f"{owner}.{getter}"
        assert f"public List<{item}> {item_getter}()" in declarations(java_client.source(wrapper)), wrapper

