"""The WSDL documents the service serves, built from the Spyne services and corrected where Spyne's
defaults differ from the contract rules; and the XML Schema requests are validated against, taken
from those very documents so the two cannot disagree.

Corrections: the one part of each operation's input and output message is named `parameters`, which
is how .NET, PHP and JAX-WS recognise the wrapped style (Spyne names it after the element; its
`_wsdl_part_name` option renames it too, but only by making each message a customized copy of the
class the operation declares, where correcting the document keeps the classes the codec reads and
writes); portType operations lose
`parameterOrder` (it names the element, not the part, and wsimport warns on it); global elements that no message uses
are dropped (they only add classes to generated clients); unused namespace declarations go; the
wsdl:service comes last, where readers of WSDL 1.1 expect it; and the schema's declarations are
sorted, because Spyne emits them in set order, which changes from one process to the next.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lxml import etree
from spyne import Application
from spyne.interface.wsdl import Wsdl11

from ..ns import SOAP_OVER_HTTP, TNS, WSDL, XSD, qualified

# The address written into the committed copies in wsdl/; a live service writes its own.
PLACEHOLDER_BASE = "http://localhost:8000"
ENDPOINTS = {"soap11": "/v1/soap11", "soap12": "/v1/soap12"}
# Prefixes used inside attribute values (type="xs:string", element="tns:GetBalance"), which
# lxml's namespace clean-up cannot see; every other unused declaration goes.
_QNAME_PREFIXES = ["xs", "tns"]
_DECLARATION_ORDER = [qualified(XSD, kind) for kind in ("import", "simpleType", "complexType", "element")]


def _w(name: str) -> str:
    return qualified(WSDL, name)


def _xs(name: str) -> str:
    return qualified(XSD, name)


def _correct(document: etree._Element) -> None:
    for operation in document.iter(_w("operation")):
        operation.attrib.pop("parameterOrder", None)
    faults = {fault.get("message") for fault in document.iter(_w("fault"))}
    for message in document.iter(_w("message")):
        if f"tns:{message.get('name')}" not in faults:
            for part in message.iter(_w("part")):
                part.set("name", "parameters")
    used = {part.get("element").split(":", 1)[-1] for part in document.iter(_w("part"))}
    for schema in document.iter(_xs("schema")):
        for element in schema.findall(_xs("element")):
            if element.get("name") not in used:
                schema.remove(element)
        declarations = sorted(schema, key=lambda child: (_DECLARATION_ORDER.index(child.tag), child.get("name")))
        schema[:] = declarations
    for service in document.findall(_w("service")):
        document.remove(service)
        document.append(service)
    etree.cleanup_namespaces(document, keep_ns_prefixes=_QNAME_PREFIXES)


@dataclass(frozen=True)
class WsdlDocument:
    """One binding's WSDL, with its address left to fill in per request."""

    document: bytes

    def at(self, base_url: str) -> bytes:
        """The document with its soap:address under `base_url`, set as an attribute so that whatever the
        URL holds is escaped; the rest byte for byte as committed."""
        document = etree.fromstring(self.document)
        for address in document.iterfind(f"{_w('service')}/{_w('port')}/*[@location]"):
            address.set("location", base_url + address.get("location").removeprefix(PLACEHOLDER_BASE))
        return etree.tostring(document, pretty_print=True, xml_declaration=True, encoding="UTF-8")

    def schema(self, envelope_ns: str) -> etree.XMLSchema:
        """The schema of a whole request envelope of the SOAP version `envelope_ns`: its Body holds one
        element of the contract, valid against the contract's types; Header blocks are not its concern.
        Requests are validated as whole documents because lxml validates an element below the root by
        first copying every namespace its ancestors declare onto it, one at a time, each copy checked
        against those already made: quadratic in the declarations on Envelope and Body."""
        types = etree.tostring(etree.fromstring(self.document).find(f"{_w('types')}/{_xs('schema')}"))
        parser = etree.XMLParser(resolve_entities=False, no_network=True)
        parser.resolvers.add(_ContractTypes(types))
        document = _ENVELOPE_SCHEMA.format(xsd=XSD, envelope=envelope_ns, tns=TNS, types=_TYPES_LOCATION)
        return etree.XMLSchema(etree.fromstring(document, parser))


_TYPES_LOCATION = "urn:soap-ledger:contract-types"
# What the gateway has already checked of the envelope's structure (an optional Header, then the Body,
# nothing else) is only restated here; text between elements is left alone, as before.
_ENVELOPE_SCHEMA = """<xs:schema xmlns:xs="{xsd}" xmlns:env="{envelope}" targetNamespace="{envelope}"
           elementFormDefault="qualified">
  <xs:import namespace="{tns}" schemaLocation="{types}"/>
  <xs:element name="Envelope">
    <xs:complexType mixed="true">
      <xs:sequence><xs:element ref="env:Header" minOccurs="0"/><xs:element ref="env:Body"/></xs:sequence>
      <xs:anyAttribute processContents="skip"/>
    </xs:complexType>
  </xs:element>
  <xs:element name="Header">
    <xs:complexType mixed="true">
      <xs:sequence><xs:any processContents="skip" minOccurs="0" maxOccurs="unbounded"/></xs:sequence>
      <xs:anyAttribute processContents="skip"/>
    </xs:complexType>
  </xs:element>
  <xs:element name="Body">
    <xs:complexType mixed="true">
      <xs:sequence><xs:any namespace="{tns}" processContents="strict"/></xs:sequence>
      <xs:anyAttribute processContents="skip"/>
    </xs:complexType>
  </xs:element>
</xs:schema>"""


class _ContractTypes(etree.Resolver):
    """Answers the envelope schema's import of the contract namespace with the contract's own schema."""

    def __init__(self, types: bytes):
        super().__init__()
        self.types = types

    def resolve(self, url, pubid, context):
        return self.resolve_string(self.types, context) if url == _TYPES_LOCATION else None


def build_wsdl(app: Application, path: str) -> WsdlDocument:
    # Spyne takes the binding's transport from the server wrapping the app, and writes a
    # placeholder without one; the contract is SOAP over HTTP whoever builds it.
    app.transport = SOAP_OVER_HTTP
    wsdl = Wsdl11(app.interface)
    wsdl.build_interface_document(PLACEHOLDER_BASE + path)
    document = etree.fromstring(wsdl.get_interface_document())
    _correct(document)
    text = etree.tostring(document, pretty_print=True, xml_declaration=True, encoding="UTF-8")
    return WsdlDocument(text)


def export(documents: dict[str, WsdlDocument], directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for binding, wsdl in documents.items():
        target = directory / f"{binding}.wsdl"
        target.write_bytes(wsdl.document)
        written.append(target)
    return written
