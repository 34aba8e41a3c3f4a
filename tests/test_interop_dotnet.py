""".NET integrators (docs/contract.md#contract-rules, #operations, #faults, #security): the ASMX-style proxy that
mono's `wsdl` generates from the live WSDL (a SoapHttpClientProtocol, what .NET Framework's wsdl.exe writes
too) runs the ledger scenario on SOAP 1.1 and SOAP 1.2 (its sale's metadata, beyond ASCII, read back as it was
given, from GetEntry and from ListEntries), and the code it generates is what a C# developer
expects: one wrapped method per operation with the parameters of docs/contract.md#operations, money as
decimal, lists as arrays of singular items, and `…Specified` companions only where the contract makes a
value-type element optional.

The C# side is tests/interop/dotnet: Scenario.cs drives the generated proxy; UsernameToken.cs adds the
WS-Security header through the proxy's partial class. `wsdl`'s output is cached under
$XDG_CACHE_HOME/soap-ledger/wsdl/<SHA-256 of the WSDL, address left out, and the options>, so it runs again
only when the contract changes. mono's `svcutil` (WCF) is not used: it is a 2006 Novell tool that maps the
contract to DataContracts (xs:date as string, no FaultContract), unlike any svcutil an integrator would run.
"""
from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from lxml import etree

from conftest import ADMIN, ADMIN_PASSWORD, TNS, require_tools, unique
from generated_clients import (
    assert_only_the_balanced_entry_posted, fetch_wsdl, generated_once, scenario_lines, scenario_seen,
)

pytestmark = pytest.mark.interop

CSHARP_SOURCES = Path(__file__).resolve().parent / "interop" / "dotnet"
NAMESPACE = "Ledger.Client"
GENERATED_FILE = "Ledger.cs"
# The assemblies the proxy and Scenario.cs name; mcs adds mscorlib and System itself.
REFERENCES = ["System.Web.Services.dll", "System.Xml.dll"]
WSDL_OPTIONS = {"11": [], "12": ["-protocol:SOAP12"]}
# What the proxy reports as its SoapVersion: ASMX sends SOAP 1.1 when it is left at Default.
PROXY_SOAP_VERSION = {"11": "Default", "12": "Soap12"}
SENDER_FAULT_CODE = {"11": "Client", "12": "Sender"}
XSD = "http://www.w3.org/2001/XMLSchema"
WSDL = "http://schemas.xmlsoap.org/wsdl/"


def generate_proxy(wsdl_url: str, wsdl: bytes, options: list[str]) -> Path:
    """The directory holding the proxy `wsdl` generates from the WSDL at `wsdl_url`, and its output in
    wsdl.log, from the cache when this contract (`wsdl`, as served there) was seen before."""
    arguments = ["-nologo", *options, f"-namespace:{NAMESPACE}", f"-out:{GENERATED_FILE}"]
    return generated_once("wsdl", wsdl, arguments, lambda staging: subprocess.run(
        ["wsdl", *arguments, wsdl_url], cwd=staging, capture_output=True, text=True, timeout=300))


def compile_scenario(generated: Path, output: Path) -> Path:
    executable = output / "Scenario.exe"
    sources = sorted(str(path) for path in CSHARP_SOURCES.glob("*.cs"))
    result = subprocess.run(["mcs", "-nologo", "-warnaserror", f"-out:{executable}",
                             *[f"-r:{reference}" for reference in REFERENCES], str(generated / GENERATED_FILE),
                             *sources], capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        pytest.fail(f"mcs failed on tests/interop/dotnet:\n{result.stdout}{result.stderr}")
    return executable


@dataclass(frozen=True)
class DotnetClient:
    """A proxy `wsdl` generated from one binding's WSDL, and the scenario compiled against it."""

    version: str
    endpoint: str
    wsdl: bytes = field(repr=False)
    generated: Path
    scenario: Path

    def source(self) -> str:
        return (self.generated / GENERATED_FILE).read_text()

    def wsdl_log(self) -> str:
        return (self.generated / "wsdl.log").read_text()

    def run_scenario(self, username: str, password: str, book: str) -> subprocess.CompletedProcess:
        return subprocess.run(["mono", str(self.scenario), self.endpoint, book], capture_output=True, encoding="utf-8",
                              env={**os.environ, "LEDGER_USERNAME": username, "LEDGER_PASSWORD": password},
                              timeout=300)

    def scenario_output(self, username: str, password: str, book: str) -> dict[str, str]:
        return scenario_lines(self.run_scenario(username, password, book))


@pytest.fixture(scope="module", params=["11", "12"], ids=["soap11", "soap12"])
def dotnet_client(request, tmp_path_factory) -> DotnetClient:
    require_tools("wsdl", "mcs", "mono", packages="mono-devel")
    server = request.getfixturevalue("sqlite_server")  # only once the tools are known to be there
    version = request.param
    wsdl_url, wsdl = fetch_wsdl(server, version)
    generated = generate_proxy(wsdl_url, wsdl, WSDL_OPTIONS[version])
    return DotnetClient(version, server.endpoint(version), wsdl, generated,
                        compile_scenario(generated, tmp_path_factory.mktemp("scenario")))


# --- the scenario, end to end ---

def test_generated_proxy_runs_the_ledger_scenario(dotnet_client, sqlite_server):
    book = unique("NET")
    output = dotnet_client.scenario_output(ADMIN, ADMIN_PASSWORD, book)
    assert output == {**scenario_seen(book), "soap.version": PROXY_SOAP_VERSION[dotnet_client.version],
                      "faultcode": SENDER_FAULT_CODE[dotnet_client.version]}
    assert_only_the_balanced_entry_posted(sqlite_server, dotnet_client.version, book)


def test_wrong_password_reaches_the_dotnet_client_as_a_fault_with_the_ledger_code(dotnet_client):
    result = dotnet_client.run_scenario(ADMIN, "not-the-password", unique("NET"))
    assert result.returncode == 1
    assert "unexpected fault AuthenticationFailed" in result.stderr, result.stderr


# --- the generated code ---

def test_wsdl_reports_nothing_but_the_file_it_wrote(dotnet_client):
    """`wsdl` warns when it cannot map part of a contract (an operation skipped, a type left as XmlElement)."""
    assert dotnet_client.wsdl_log().splitlines() == [f"Writing file '{GENERATED_FILE}'"]


# docs/contract.md#operations as a C# developer calls them: wrapped style unwraps each
# request element into parameters, in the contract's order, and each response into its result. ASMX proxies
# give an optional value-type parameter a `…Specified` flag after it (false leaves the element out).
DOTNET_OPERATIONS = {
    "CreateBook": "Book CreateBook(string code, string name)",
    "OpenAccount": "Account OpenAccount(string book, AccountInput account)",
    "GetAccount": "Account GetAccount(string book, string code)",
    "ListAccounts": "AccountPage ListAccounts(string book, AccountType type, bool typeSpecified, string codePrefix, "
                    "int pageSize, bool pageSizeSpecified, string pageToken)",
    "CloseAccount": "Account CloseAccount(string book, string code)",
    "PostEntry": "Entry PostEntry(string book, EntryInput entry)",
    "PostEntries": "EntryResult[] PostEntries(string book, EntryInput[] entries, bool atomic)",
    "CommitPending": "Entry CommitPending(string book, string reference, LineInput[] lines)",
    "VoidPending": "Entry VoidPending(string book, string reference, string reason)",
    "GetEntry": "Entry GetEntry(string book, string reference)",
    "GetEntryAudit": "EntryAudit GetEntryAudit(string book, string reference)",
    "ReverseEntry": "Entry ReverseEntry(string book, string reference, string reversalReference, "
                    "System.DateTime effectiveDate, bool effectiveDateSpecified, string reason)",
    "GetBalance": "Balance GetBalance(string book, string account, System.DateTime asOf, bool asOfSpecified)",
    "GetStatement": "Statement GetStatement(string book, string account, System.DateTime fromDate, "
                    "System.DateTime toDate, int pageSize, bool pageSizeSpecified, string pageToken)",
    "GetTrialBalance": "TrialBalance GetTrialBalance(string book, System.DateTime asOf, bool asOfSpecified)",
    "ClosePeriod": "Book ClosePeriod(string book, System.DateTime throughDate)",
    "ListEntries": "EntryPage ListEntries(string book, System.DateTime fromDate, System.DateTime toDate, "
                   "string account, string metadataKey, string metadataValue, int pageSize, bool pageSizeSpecified, "
                   "string pageToken)",
    "GetJournalHead": "JournalHead GetJournalHead(string book)",
    "VerifyJournal": "JournalVerification VerifyJournal(string book, long fromSequence, bool fromSequenceSpecified, "
                     "long toSequence, bool toSequenceSpecified)",
    "GetCamtStatement": "CamtStatement GetCamtStatement(string book, string account, System.DateTime fromDate, "
                        "System.DateTime toDate)",
}
_ATTRIBUTES = re.compile(r"\[[^\[\]]+\]\s*")  # not `[]`, which follows an array's item type
_METHOD = re.compile(r"((?:\[[^\n]*\]\s*)*)public ([\w.\[\]]+) (\w+)\((.*)\) \{$", re.M)
_PROPERTY = re.compile(r"((?:\[[^\n]*\]\s*)*)public ([\w.\[\]]+) (\w+) \{\s*get")
_CLASS = re.compile(r"public (?:partial class|enum) (\w+)")
# How XmlSerializer maps the XML Schema built-ins the contract uses.
CSHARP_BUILT_INS = {"string": "string", "decimal": "decimal", "boolean": "bool", "int": "int", "long": "long",
                    "date": "System.DateTime", "dateTime": "System.DateTime", "base64Binary": "byte[]"}
VALUE_TYPES = {"decimal", "bool", "int", "long", "System.DateTime"}


def operations(source: str) -> dict[str, tuple[str, str]]:
    """The proxy's synchronous operation methods: name -> (attributes, signature without attributes)."""
    return {name: (attributes, f"{result} {name}({_ATTRIBUTES.sub('', parameters)})")
            for attributes, result, name, parameters in _METHOD.findall(source)
            if "SoapDocumentMethodAttribute" in attributes}


def types(source: str) -> dict[str, str]:
    """Each generated class or enum's body, by name."""
    starts = list(_CLASS.finditer(source))
    ends = [match.start() for match in starts[1:]] + [len(source)]
    return {match.group(1): source[match.end():end] for match, end in zip(starts, ends)}


@dataclass(frozen=True)
class Property:
    type: str
    attributes: str


def properties(body: str) -> dict[str, Property]:
    """A generated class's properties by name, in declaration (= schema) order."""
    return {name: Property(type, attributes) for attributes, type, name in _PROPERTY.findall(body)}


@dataclass(frozen=True)
class SchemaElement:
    name: str
    required: bool
    csharp_type: str
    value_type: bool  # a struct or enum in C#, which cannot be null: absence needs a flag
    array_item: str | None  # the repeated element's name, for a list wrapper type


def schema_classes(wsdl: bytes) -> dict[str, list[SchemaElement]]:
    """Each named complex type that becomes a C# class, with its elements as C# should type them. Not
    classes: the types of the message elements (wrapped style turns requests and responses into parameters
    and results; ASMX does not map wsdl:fault, so LedgerFault is read from SoapException.Detail instead), and
    the list wrappers (…Array), which become arrays of their item."""
    schema = etree.fromstring(wsdl)
    element_types = {element.get("name"): element.get("type").split(":", 1)[1]
                     for element in schema.iter(f"{{{XSD}}}element") if element.getparent().tag == f"{{{XSD}}}schema"}
    # LedgerFault is a class all the same, as the type of EntryResult's `fault`.
    field_types = {element.get("type").split(":", 1)[1] for element in schema.iter(f"{{{XSD}}}element")
                   if element.getparent().tag != f"{{{XSD}}}schema"}
    message_wrappers = {element_types[part.get("element").split(":", 1)[1]]
                        for part in schema.iter(f"{{{WSDL}}}part")} - field_types
    simple = {simple_type.get("name"): simple_type for simple_type in schema.iter(f"{{{XSD}}}simpleType")}
    complex_types = {complex_type.get("name"): complex_type for complex_type in schema.iter(f"{{{XSD}}}complexType")
                     if complex_type.get("name")}

    def item_of(type_name: str) -> etree._Element | None:
        complex_type = complex_types.get(type_name)
        if type_name.endswith("Array") and complex_type is not None:
            return complex_type.find(f".//{{{XSD}}}element")
        return None

    def csharp_type(qualified: str) -> str:
        name = qualified.split(":", 1)[1]
        if qualified.startswith("xs:"):
            return CSHARP_BUILT_INS[name]
        if name in simple:
            if simple[name].find(f".//{{{XSD}}}enumeration") is not None:
                return name
            return csharp_type(simple[name].find(f"{{{XSD}}}restriction").get("base"))
        item = item_of(name)
        return csharp_type(item.get("type")) + "[]" if item is not None else name

    def schema_element(element: etree._Element) -> SchemaElement:
        type_name = csharp_type(element.get("type"))
        item = item_of(element.get("type").split(":", 1)[1])
        return SchemaElement(element.get("name"), element.get("minOccurs", "1") != "0", type_name,
                             type_name in VALUE_TYPES or type_name in simple,
                             item.get("name") if item is not None else None)

    return {name: [schema_element(element) for element in complex_type.iter(f"{{{XSD}}}element")]
            for name, complex_type in complex_types.items()
            if name not in message_wrappers and not name.endswith("Array")}


def test_every_operation_is_a_wrapped_method_with_the_contract_parameters(dotnet_client):
    methods = operations(dotnet_client.source())
    assert {name: signature for name, (_, signature) in methods.items()} == DOTNET_OPERATIONS
    for name, (attributes, _) in methods.items():
        assert "ParameterStyle=System.Web.Services.Protocols.SoapParameterStyle.Wrapped" in attributes, name
        assert f'RequestNamespace="{TNS}"' in attributes and f'ResponseNamespace="{TNS}"' in attributes, name


def test_generated_classes_follow_the_schema(dotnet_client):
    """Every element becomes a property of its C# type, in schema order; an optional value-type element gets
    a `…Specified` flag right after it, and nothing else does (a required element must not: a client that
    forgot to set it would silently send nothing)."""
    generated, classes = types(dotnet_client.source()), schema_classes(dotnet_client.wsdl)
    # Data classes are the partial classes that derive from nothing (the proxy and its EventArgs do).
    assert set(classes) == set(re.findall(r"public partial class (\w+) \{", dotnet_client.source()))
    for class_name, elements in classes.items():
        expected = {}
        for element in elements:
            expected[element.name] = element.csharp_type
            if not element.required and element.value_type:
                expected[f"{element.name}Specified"] = "bool"
        generated_properties = properties(generated[class_name])
        assert {name: prop.type for name, prop in generated_properties.items()} == expected, class_name
        for element in elements:
            prop, where = generated_properties[element.name], f"{class_name}.{element.name}"
            if element.array_item:
                assert f'XmlArrayItemAttribute("{element.array_item}", IsNullable=false)' in prop.attributes, where
            assert "IsNullable=true" not in prop.attributes, where


def test_money_is_decimal_and_required_fields_have_no_specified_flag(dotnet_client):
    """The cases an integrator meets first, spelled out: the ones the schema-wide test above derives."""
    generated = types(dotnet_client.source())
    balance = properties(generated["Balance"])
    assert balance["balance"].type == "decimal" and "balanceSpecified" not in balance
    assert balance["asOf"].type == "System.DateTime" and balance["asOfSpecified"].type == "bool"
    account, account_input = properties(generated["Account"]), properties(generated["AccountInput"])
    assert account["noNegativeBalance"].type == "bool" and "noNegativeBalanceSpecified" not in account
    assert "noNegativeBalanceSpecified" in account_input


def test_lists_are_arrays_of_items_named_in_the_singular(dotnet_client):
    generated = types(dotnet_client.source())
    entry_lines = properties(generated["EntryInput"])["lines"]
    assert entry_lines.type == "LineInput[]"
    assert 'XmlArrayItemAttribute("line", IsNullable=false)' in entry_lines.attributes
    assert properties(generated["TrialBalance"])["rows"].type == "TrialBalanceRow[]"
    assert properties(generated["AccountPage"])["accounts"].type == "Account[]"
    assert properties(generated["EntryPage"])["entries"].type == "Entry[]"
    for owner in ["EntryInput", "Entry"]:
        metadata = properties(generated[owner])["metadata"]
        assert metadata.type == "MetadataItem[]", owner
        assert 'XmlArrayItemAttribute("item", IsNullable=false)' in metadata.attributes, owner
    assert set(properties(generated["MetadataItem"])) == {"key", "value"}
