"""WS-I Basic Profile 1.1, rule by rule: the WSDL descriptions (the committed wsdl/soap11.wsdl and
wsdl/soap12.wsdl, and both documents as the live service serves them) and the messages the service sends.

Every rule is a test id `<number> <meaning>`, run on each document (or exchange). The number is the
profile's requirement number; (SHOULD) marks the profile's recommendations, every other rule is a MUST.

Descriptions
  R2001/R2002  wsdl:import brings in only WSDL descriptions; XML Schema comes in with xsd:import
  R2003        xsd:import, and xsd:schema itself, appear only inside wsdl:types
  R2004        an xsd:import or xsd:include schemaLocation names an XML Schema document, not a WSDL
  R2005        a wsdl:import's namespace is the imported description's targetNamespace
  R2007        a wsdl:import has a non-empty location
  R2803        a wsdl:import's namespace is not a relative URI
  R2022        wsdl:import comes before every other WSDL element but wsdl:documentation
  R2023        wsdl:types comes before every other WSDL element but wsdl:documentation and wsdl:import
  R2030        wsdl:documentation appears only as the first child of its parent
  R2026        (SHOULD) no extension element says wsdl:required="true"
  R4003        the description is encoded in UTF-8 or UTF-16 (and served with that charset)
  R4004        the description is XML 1.0
  R4005        (SHOULD) no xmlns:xml declaration
  R2101        QName references to WSDL components and from parts use namespaces the description defines
               or imports, and resolve (with no wsdl:definitions targetNamespace, none would)
  R2102        QName references inside xsd:schema use its targetNamespace, an imported one or XML Schema's,
               and resolve to a declaration
  R2105        every xsd:schema in wsdl:types has a targetNamespace
  R2110        no array type extends or restricts soapenc:Array
  R2111        no wsdl:arrayType attribute
  R2112        (SHOULD) no element named ArrayOfXXX
  R2201/R2210  a document-literal soapbind:body binds at most one part
  R2203        an rpc-literal soapbind:body binds only parts declared with type=
  R2204        a document-literal soapbind:body binds only parts declared with element=
  R2205        soapbind:fault, soapbind:header and soapbind:headerfault bind only parts declared with element=
  R2206        a part's element= names a global element declaration
  R2209        (SHOULD) every part is bound to the soap:Body, a header or a fault
  R2303        no solicit-response or notification operations
  R2304        the operations of a portType have distinct names
  R2305        parameterOrder, where present, lists every input part and omits at most one output part
  R2306        no part has both element= and type=
  R2401        every wsdl:binding uses the WSDL SOAP binding
  R2701        soapbind:binding names a transport
  R2702        that transport is SOAP over HTTP, http://schemas.xmlsoap.org/soap/http
  R2705        a binding is wholly document-literal or wholly rpc-literal
  R2706/R2707  use is "literal" on soapbind:body, fault, header and headerfault (absent counts as
               literal), and none names an encodingStyle
  R2710        operations have distinct wire signatures: the QName of the input soap:Body child
  R2711        (SHOULD) no two ports share an address
  R2716        document-literal soapbind:body, header, headerfault and fault have no namespace attribute
  R2717        an rpc-literal soapbind:body has an absolute namespace
  R2726        rpc-literal soapbind:header, headerfault and fault have no namespace attribute
  R2718        a binding has the operations of its portType, no more, no fewer, with the same input and
               output names
  R2720/R2749  soapbind:header and headerfault name their part with part=, never parts=
  R2721/R2754  every soapbind:fault has a name, the name of its wsdl:fault
  R2740        (SHOULD) every fault of the portType is bound with a soapbind:fault
  R2801        the types are XML Schema 1.0 (the 2001 namespace, no older one) and lxml compiles them

Messages: raw requests to the live service, the replies read with lxml
  R9980        a reply has SOAP's envelope structure: Envelope, an optional Header, then one Body
  R1011        no element follows soap:Body
  R1014        the children of soap:Body are namespace qualified
  R2712        a document-literal reply's Body child is the output part's element, valid against its schema
  R1005-R1007  no soap:encodingStyle attribute
  R1008/R1009  no DTD, no processing instruction
  R1012        UTF-8 or UTF-16, in the XML declaration and the Content-Type charset
  R1032        Envelope, Header and Body carry no attribute in the envelope namespace
  R1000/R1001  soap:Fault has only faultcode, faultstring, faultactor and detail, all unqualified
  R1004/R1031  faultcode is a QName of SOAP's fault codes, with no dot refinement
  R1126        a fault comes with HTTP 500
  R1111/R1124  a reply that is not a fault comes with 200 OK
  R1140/R1141  replies are HTTP/1.1
  R2744/R1109  a request whose SOAPAction header is the WSDL's soapAction, quoted, is answered by that
               operation (on SOAP 1.2, where the action travels as the media type's action parameter, the same)

SOAP 1.2: the Basic Profile 1.1 profiles SOAP 1.1 and WSDL 1.1's SOAP 1.1 binding (its "soapbind"). The SOAP 1.2
document gets the same description rules with the WSDL SOAP 1.2 binding namespace in soapbind's place, which is
what WS-I's Basic Profile 2.0 does for SOAP 1.2 (that each document uses only its own binding namespace,
test_contract.py checks). Message rules that SOAP 1.2 shares run on both versions; SOAP 1.1's fault layout and
HTTP status rules (R1000/R1001, R1004/R1031, R1126) on SOAP 1.1 only.

Not checked: R2028/R2029 (validity against WS-I's own WSDL and soapbind schemas, which are not available
offline); rules on what a consumer does (R2747/R2748 on wsdl:required, R2727, R2750), where this service is
not the consumer.

Every checker has a negative self-check at the end of this module: a copy of the document or reply broken in
exactly the way its rule forbids, which the checker must report.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable
from urllib.parse import urljoin, urlparse
from urllib.request import url2pathname

import pytest
import requests
from lxml import etree

from conftest import CONTENT_TYPE, SOAP_ENV, TNS, envelope, unique

ROOT = Path(__file__).resolve().parents[1]
VERSIONS = ["11", "12"]
WSDL = "http://schemas.xmlsoap.org/wsdl/"
XSD = "http://www.w3.org/2001/XMLSchema"
OLDER_XSD = ("http://www.w3.org/1999/XMLSchema", "http://www.w3.org/2000/10/XMLSchema")
SOAPENC = "http://schemas.xmlsoap.org/soap/encoding/"
SOAP_OVER_HTTP = "http://schemas.xmlsoap.org/soap/http"
SOAPBIND = {"11": "http://schemas.xmlsoap.org/wsdl/soap/", "12": "http://schemas.xmlsoap.org/wsdl/soap12/"}
UNICODE_ENCODINGS = {"utf-8", "utf-16"}


def _w(name: str) -> str:
    return f"{{{WSDL}}}{name}"


def _xs(name: str) -> str:
    return f"{{{XSD}}}{name}"


# --- reading a description ---

class Description:
    """One WSDL document, with where it came from, so that its imports resolve as a consumer's would."""

    def __init__(self, version: str, data: bytes, base: str, http_charset: str | None = None):
        self.version, self.data, self.base, self.http_charset = version, data, base, http_charset
        self.root = etree.fromstring(data)
        self.soapbind = SOAPBIND[version]
        self.namespaces = {"wsdl": WSDL, "xs": XSD, "soapbind": self.soapbind}

    def xpath(self, path: str, element: etree._Element | None = None, **variables) -> list:
        return (self.root if element is None else element).xpath(path, namespaces=self.namespaces, **variables)

    def load(self, location: str) -> etree._Element:
        url = urljoin(self.base, location)
        if urlparse(url).scheme == "file":
            return etree.parse(url2pathname(urlparse(url).path)).getroot()
        response = requests.get(url, timeout=60)
        response.raise_for_status()
        return etree.fromstring(response.content)

    def wsdl_imports(self) -> list[tuple[etree._Element, etree._Element]]:
        """Each wsdl:import that has a location, with the root of the document it names."""
        return [(i, self.load(i.get("location"))) for i in self.xpath("wsdl:import[@location != '']")]

    @property
    def target_namespace(self) -> str | None:
        return self.root.get("targetNamespace")

    def components(self, kind: str) -> set[str]:
        """The Clark names of the description's own messages, portTypes or bindings."""
        return {f"{{{self.target_namespace}}}{e.get('name')}" for e in self.xpath(f"wsdl:{kind}")}

    def schema_declarations(self, kind: str) -> set[str]:
        """The Clark names of the global declarations of one kind (element, type, attribute, group…) in wsdl:types."""
        tags = [_xs(tag) for tag in {"type": ["simpleType", "complexType"]}.get(kind, [kind])]
        return {f"{{{schema.get('targetNamespace')}}}{declaration.get('name')}"
                for schema in self.xpath("wsdl:types/xs:schema") for declaration in schema.iterchildren(*tags)}

    def imported_namespaces(self) -> set[str]:
        return {i.get("namespace") for i in self.xpath("wsdl:import | wsdl:types/xs:schema/xs:import")}

    def schema_namespaces(self) -> set[str]:
        return {s.get("targetNamespace") for s in self.xpath("wsdl:types/xs:schema")}

    @cached_property
    def types_schema(self) -> etree.XMLSchema:
        [schema] = self.xpath("wsdl:types/xs:schema")
        # A copy as a document of its own, carrying the namespace declarations it inherits.
        return etree.XMLSchema(etree.fromstring(etree.tostring(schema)))

    # --- bindings, as WSDL 1.1 ties them to portTypes and messages ---

    def find(self, kind: str, name: str | None) -> etree._Element | None:
        if name is None or not name.startswith(f"{{{self.target_namespace}}}"):
            return None
        found = self.xpath(f"wsdl:{kind}[@name=$name]", name=etree.QName(name).localname)
        return found[0] if found else None

    def port_type_operation(self, binding: etree._Element, operation: etree._Element) -> etree._Element | None:
        port_type = self.find("portType", qname(binding, "type"))
        if port_type is None:
            return None
        found = self.xpath("wsdl:operation[@name=$name]", port_type, name=operation.get("name"))
        return found[0] if found else None

    def message_of(self, binding: etree._Element, operation: etree._Element, direction: str) -> etree._Element | None:
        abstract = self.port_type_operation(binding, operation)
        if abstract is None:
            return None
        found = self.xpath(f"wsdl:{direction}", abstract)
        return self.find("message", qname(found[0], "message")) if found else None

    def fault_message(self, binding: etree._Element, operation: etree._Element, name: str) -> etree._Element | None:
        abstract = self.port_type_operation(binding, operation)
        found = [] if abstract is None else self.xpath("wsdl:fault[@name=$name]", abstract, name=name)
        return self.find("message", qname(found[0], "message")) if found else None

    def style(self, binding: etree._Element, operation: etree._Element) -> str:
        declared = self.xpath("soapbind:operation/@style", operation) or self.xpath("soapbind:binding/@style", binding)
        return declared[0] if declared else "document"

    def bound_operations(self):
        """(binding, binding operation, style) for every operation of every SOAP binding."""
        for binding in self.xpath("wsdl:binding"):
            for operation in self.xpath("wsdl:operation", binding):
                yield binding, operation, self.style(binding, operation)

    def body_parts(self, binding, operation, direction: str) -> list[etree._Element]:
        """The parts one input or output soapbind:body puts in the soap:Body."""
        message = self.message_of(binding, operation, direction)
        bodies = self.xpath(f"wsdl:{direction}/soapbind:body", operation)
        if message is None or not bodies:
            return []
        parts = self.xpath("wsdl:part", message)
        listed = bodies[0].get("parts")
        return parts if listed is None else [p for p in parts if p.get("name") in listed.split()]

    def soapbind_elements(self, operation: etree._Element, *names: str) -> list[etree._Element]:
        return [e for e in operation.iter(f"{{{self.soapbind}}}*") if etree.QName(e).localname in names]


def qname(element: etree._Element, attribute: str) -> str | None:
    """The Clark name a QName-valued attribute means, or None when its prefix is not declared."""
    value = element.get(attribute)
    if value is None:
        return None
    prefix, _, local = value.strip().rpartition(":")
    namespace = element.nsmap.get(prefix or None)
    if namespace is None:
        return None if prefix else local
    return f"{{{namespace}}}{local}"


# --- the description rules ---

@dataclass(frozen=True)
class Rule:
    number: str
    meaning: str
    check: Callable  # returns the problems it finds, [] when the rule holds

    def __str__(self) -> str:
        return f"{self.number} {self.meaning}"


DESCRIPTION_RULES: list[Rule] = []


def description_rule(number: str, meaning: str):
    def register(check):
        DESCRIPTION_RULES.append(Rule(number, meaning, check))
        return check
    return register


@description_rule("R2001/R2002", "wsdl:import imports only WSDL")
def wsdl_imports_import_wsdl(d: Description) -> list[str]:
    return [f"wsdl:import of {wsdl_import.get('location')} brings in a {imported.tag}, not WSDL"
            for wsdl_import, imported in d.wsdl_imports() if imported.tag != _w("definitions")]


@description_rule("R2003", "xsd:import and xsd:schema only in wsdl:types")
def schema_only_in_types(d: Description) -> list[str]:
    misplaced = [e for e in d.root.iter(_xs("schema"), _xs("import"))
                 if (e.tag == _xs("schema") and e.getparent().tag != _w("types"))
                 or (e.tag == _xs("import") and not d.xpath("parent::xs:schema/parent::wsdl:types", e))]
    return [f"{etree.QName(e).localname} under {e.getparent().tag}" for e in misplaced]


@description_rule("R2004", "schemaLocation names an XML Schema document")
def schema_locations_are_schemas(d: Description) -> list[str]:
    references = d.xpath("wsdl:types/xs:schema/xs:import[@schemaLocation] | wsdl:types/xs:schema/xs:include")
    return [f"schemaLocation {reference.get('schemaLocation')} is a {loaded.tag}" for reference in references
            if (loaded := d.load(reference.get("schemaLocation"))).tag != _xs("schema")]


@description_rule("R2005", "wsdl:import namespace is the imported targetNamespace")
def wsdl_import_namespaces_match(d: Description) -> list[str]:
    return [f"wsdl:import says {wsdl_import.get('namespace')}, the document is {imported.get('targetNamespace')}"
            for wsdl_import, imported in d.wsdl_imports()
            if imported.get("targetNamespace") != wsdl_import.get("namespace")]


@description_rule("R2007", "wsdl:import has a location")
def wsdl_imports_have_a_location(d: Description) -> list[str]:
    return [f"wsdl:import of {i.get('namespace')} without location" for i in d.xpath("wsdl:import")
            if not (i.get("location") or "").strip()]


@description_rule("R2803", "wsdl:import namespace is absolute")
def wsdl_import_namespaces_are_absolute(d: Description) -> list[str]:
    return [f"relative wsdl:import namespace {i.get('namespace')}" for i in d.xpath("wsdl:import")
            if not urlparse(i.get("namespace") or "").scheme]


def _wsdl_children(d: Description) -> list[str]:
    return [etree.QName(child).localname for child in d.root
            if isinstance(child.tag, str) and etree.QName(child).namespace == WSDL]


@description_rule("R2022", "wsdl:import precedes other WSDL elements")
def imports_come_first(d: Description) -> list[str]:
    children = [name for name in _wsdl_children(d) if name != "documentation"]
    last_import = max((i for i, name in enumerate(children) if name == "import"), default=0)
    return [f"wsdl:{name} before a wsdl:import" for name in children[:last_import] if name != "import"]


@description_rule("R2023", "wsdl:types precedes other WSDL elements")
def types_come_next(d: Description) -> list[str]:
    children = [name for name in _wsdl_children(d) if name not in ("documentation", "import")]
    if "types" not in children:
        return []
    return [f"wsdl:{name} before wsdl:types" for name in children[:children.index("types")]]


@description_rule("R2030", "wsdl:documentation only as a first child")
def documentation_comes_first(d: Description) -> list[str]:
    return [f"wsdl:documentation after another element in {e.getparent().tag}" for e in d.root.iter(_w("documentation"))
            if any(isinstance(sibling.tag, str) for sibling in e.itersiblings(preceding=True))]


@description_rule("R2026", "(SHOULD) no wsdl:required extensions")
def no_required_extensions(d: Description) -> list[str]:
    return [f"{e.tag} is wsdl:required" for e in d.root.iter()
            if isinstance(e.tag, str) and e.get(_w("required")) in ("true", "1")]


@description_rule("R4003", "UTF-8 or UTF-16")
def encoded_in_unicode(d: Description) -> list[str]:
    declared = (d.root.getroottree().docinfo.encoding or "").lower()
    problems = [] if declared in UNICODE_ENCODINGS else [f"declared encoding {declared}"]
    if d.http_charset is not None and d.http_charset.lower() not in UNICODE_ENCODINGS:
        problems.append(f"served as charset={d.http_charset}")
    return problems


@description_rule("R4004", "XML 1.0")
def xml_one_point_oh(d: Description) -> list[str]:
    version = d.root.getroottree().docinfo.xml_version
    return [] if version == "1.0" else [f"XML {version}"]


@description_rule("R4005", "(SHOULD) no xmlns:xml declaration")
def no_xml_prefix_declaration(d: Description) -> list[str]:
    return ["declares xmlns:xml"] if re.search(rb"xmlns:xml\s*=", d.data) else []


@description_rule("R2101", "WSDL QName references use known namespaces and resolve")
def wsdl_references_resolve(d: Description) -> list[str]:
    references = [(e, "message", "message") for e in d.xpath("wsdl:portType/wsdl:operation/*[@message]")]
    references += [(e, "type", "portType") for e in d.xpath("wsdl:binding")]
    references += [(e, "binding", "binding") for e in d.xpath("wsdl:service/wsdl:port")]
    references += [(e, "element", "element") for e in d.xpath("wsdl:message/wsdl:part[@element]")]
    references += [(e, "type", "type") for e in d.xpath("wsdl:message/wsdl:part[@type]")]
    known = {d.target_namespace} | d.imported_namespaces() | d.schema_namespaces()
    problems = []
    for element, attribute, kind in references:
        name = qname(element, attribute)
        declared = d.schema_declarations(kind) if kind in ("element", "type") else d.components(kind)
        if name is None:
            problems.append(f"{attribute}={element.get(attribute)!r}: undeclared prefix")
        elif kind == "type" and name.startswith(f"{{{XSD}}}"):
            continue
        elif etree.QName(name).namespace not in known:
            problems.append(f"{attribute}={element.get(attribute)!r}: namespace neither defined nor imported")
        elif etree.QName(name).namespace not in d.imported_namespaces() and name not in declared:
            problems.append(f"{attribute}={element.get(attribute)!r} names no {kind}")
    return problems


# Which kind of schema declaration a QName-valued attribute names, by the element carrying it.
_SCHEMA_REFERENCES = {("element", "type"): "type", ("attribute", "type"): "type", ("restriction", "base"): "type",
                      ("extension", "base"): "type", ("list", "itemType"): "type", ("element", "ref"): "element",
                      ("element", "substitutionGroup"): "element", ("attribute", "ref"): "attribute",
                      ("group", "ref"): "group", ("attributeGroup", "ref"): "attributeGroup"}


@description_rule("R2102", "schema QName references use known namespaces and resolve")
def schema_references_resolve(d: Description) -> list[str]:
    problems = []
    for schema in d.xpath("wsdl:types/xs:schema"):
        known = {schema.get("targetNamespace"), XSD} | set(d.xpath("xs:import/@namespace", schema))
        for element in schema.iter(_xs("*")):
            for (local, attribute), kind in _SCHEMA_REFERENCES.items():
                if etree.QName(element).localname != local or element.get(attribute) is None:
                    continue
                name = qname(element, attribute)
                if name is None or etree.QName(name).namespace not in known:
                    problems.append(f"{attribute}={element.get(attribute)!r}: namespace not the schema's nor imported")
                elif etree.QName(name).namespace == schema.get("targetNamespace") and \
                        name not in d.schema_declarations(kind):
                    problems.append(f"{attribute}={element.get(attribute)!r} names no {kind}")
    return problems


@description_rule("R2105", "xsd:schema has a targetNamespace")
def schemas_have_a_target_namespace(d: Description) -> list[str]:
    return ["xsd:schema without targetNamespace" for schema in d.xpath("wsdl:types/xs:schema")
            if not schema.get("targetNamespace")
            and any(etree.QName(child).localname not in ("import", "annotation")
                    for child in schema if isinstance(child.tag, str))]


@description_rule("R2110", "no soapenc:Array")
def no_soap_encoded_arrays(d: Description) -> list[str]:
    return [f"{e.tag} of soapenc:Array" for e in d.root.iter(_xs("restriction"), _xs("extension"))
            if qname(e, "base") == f"{{{SOAPENC}}}Array"]


@description_rule("R2111", "no wsdl:arrayType")
def no_wsdl_array_type(d: Description) -> list[str]:
    return [f"wsdl:arrayType on {e.tag}" for e in d.root.iter() if isinstance(e.tag, str) and e.get(_w("arrayType"))]


@description_rule("R2112", "(SHOULD) no ArrayOfXXX elements")
def no_array_of_names(d: Description) -> list[str]:
    return [f"element {e.get('name')}" for e in d.root.iter(_xs("element"))
            if (e.get("name") or "").startswith("ArrayOf")]


@description_rule("R2201/R2210", "document-literal body binds at most one part")
def document_literal_bodies_have_one_part(d: Description) -> list[str]:
    problems = []
    for binding, operation, style in d.bound_operations():
        for direction in ("input", "output"):
            bodies = d.xpath(f"wsdl:{direction}/soapbind:body", operation)
            message = d.message_of(binding, operation, direction)
            if style != "document" or not bodies or message is None:
                continue
            listed = bodies[0].get("parts")
            count = len(listed.split()) if listed is not None else len(d.xpath("wsdl:part", message))
            if count > 1:
                problems.append(f"{operation.get('name')} {direction} binds {count} parts")
    return problems


def _parts_declared_with(d: Description, style: str, attribute: str) -> list[str]:
    return [f"{operation.get('name')} {direction} part {part.get('name')} lacks {attribute}="
            for binding, operation, operation_style in d.bound_operations() if operation_style == style
            for direction in ("input", "output") for part in d.body_parts(binding, operation, direction)
            if part.get(attribute) is None]


@description_rule("R2203", "rpc-literal body parts use type=")
def rpc_literal_parts_use_type(d: Description) -> list[str]:
    return _parts_declared_with(d, "rpc", "type")


@description_rule("R2204", "document-literal body parts use element=")
def document_literal_parts_use_element(d: Description) -> list[str]:
    return _parts_declared_with(d, "document", "element")


@description_rule("R2205", "fault and header parts use element=")
def fault_and_header_parts_use_element(d: Description) -> list[str]:
    problems = []
    for binding, operation, _ in d.bound_operations():
        for fault in d.xpath("wsdl:fault[soapbind:fault]", operation):
            message = d.fault_message(binding, operation, fault.get("name"))
            parts = [] if message is None else d.xpath("wsdl:part", message)
            problems += [f"fault {fault.get('name')} part {p.get('name')} lacks element=" for p in parts
                         if p.get("element") is None]
        for header in d.soapbind_elements(operation, "header", "headerfault"):
            message = d.find("message", qname(header, "message"))
            parts = [] if message is None else d.xpath("wsdl:part[@name=$n]", message, n=header.get("part"))
            problems += [f"header part {p.get('name')} lacks element=" for p in parts if p.get("element") is None]
    return problems


@description_rule("R2206", "part element= names a global element")
def part_elements_are_global_elements(d: Description) -> list[str]:
    elements = d.schema_declarations("element")
    return [f"part {p.get('name')} of {p.getparent().get('name')}: no global element {p.get('element')}"
            for p in d.xpath("wsdl:message/wsdl:part[@element]") if qname(p, "element") not in elements
            and etree.QName(qname(p, "element") or "{}x").namespace not in d.imported_namespaces()]


@description_rule("R2209", "(SHOULD) every part is bound")
def every_part_is_bound(d: Description) -> list[str]:
    problems = []
    for binding, operation, _ in d.bound_operations():
        for direction in ("input", "output"):
            message = d.message_of(binding, operation, direction)
            if message is None:
                continue
            bound = {p.get("name") for p in d.body_parts(binding, operation, direction)}
            bound |= {h.get("part") for h in d.soapbind_elements(operation, "header")
                      if qname(h, "message") == f"{{{d.target_namespace}}}{message.get('name')}"}
            problems += [f"{operation.get('name')} {direction} part {p.get('name')} is bound nowhere"
                         for p in d.xpath("wsdl:part", message) if p.get("name") not in bound]
    return problems


@description_rule("R2303", "no solicit-response or notification")
def only_request_response_and_one_way(d: Description) -> list[str]:
    return [f"{operation.get('name')} starts with an output" for operation in d.xpath("wsdl:portType/wsdl:operation")
            if d.xpath("local-name((wsdl:input | wsdl:output)[1])", operation) == "output"]


@description_rule("R2304", "distinct operation names")
def operation_names_are_distinct(d: Description) -> list[str]:
    problems = []
    for port_type in d.xpath("wsdl:portType"):
        names = d.xpath("wsdl:operation/@name", port_type)
        problems += [f"{name} twice in {port_type.get('name')}" for name in sorted(set(names)) if names.count(name) > 1]
    return problems


def _abstract_parts(d: Description, operation: etree._Element, direction: str) -> list[str]:
    found = d.xpath(f"wsdl:{direction}", operation)
    message = d.find("message", qname(found[0], "message")) if found else None
    return [] if message is None else d.xpath("wsdl:part/@name", message)


@description_rule("R2305", "parameterOrder omits at most one output part")
def parameter_order_is_complete(d: Description) -> list[str]:
    problems = []
    for operation in d.xpath("wsdl:portType/wsdl:operation[@parameterOrder]"):
        order = set(operation.get("parameterOrder").split())
        inputs, outputs = set(_abstract_parts(d, operation, "input")), set(_abstract_parts(d, operation, "output"))
        if order - inputs - outputs or inputs - order or len(outputs - order) > 1:
            problems.append(f"{operation.get('name')}: parameterOrder {sorted(order)}, parts {sorted(inputs | outputs)}")
    return problems


@description_rule("R2306", "no part with both element= and type=")
def parts_are_element_or_type(d: Description) -> list[str]:
    return [f"part {p.get('name')} of {p.getparent().get('name')}"
            for p in d.xpath("wsdl:message/wsdl:part[@element][@type]")]


@description_rule("R2401", "bindings use the WSDL SOAP binding")
def bindings_are_soap_bindings(d: Description) -> list[str]:
    return [f"binding {b.get('name')} has no soapbind:binding" for b in d.xpath("wsdl:binding")
            if not d.xpath("soapbind:binding", b)]


@description_rule("R2701", "soapbind:binding names a transport")
def bindings_name_a_transport(d: Description) -> list[str]:
    return [f"binding {b.getparent().get('name')} without transport" for b in d.xpath("wsdl:binding/soapbind:binding")
            if not b.get("transport")]


@description_rule("R2702", "transport is SOAP over HTTP")
def transport_is_http(d: Description) -> list[str]:
    return [f"transport {b.get('transport')}" for b in d.xpath("wsdl:binding/soapbind:binding[@transport]")
            if b.get("transport") != SOAP_OVER_HTTP]


@description_rule("R2705", "one binding, one style")
def bindings_have_one_style(d: Description) -> list[str]:
    styles: dict[str, set[str]] = {}
    for binding, _, style in d.bound_operations():
        styles.setdefault(binding.get("name"), set()).add(style)
    return [f"binding {name} mixes {sorted(found)}" for name, found in styles.items() if len(found) > 1]


@description_rule("R2706/R2707", "use is literal, no encodingStyle")
def everything_is_literal(d: Description) -> list[str]:
    problems = []
    for _, operation, _ in d.bound_operations():
        for bound in d.soapbind_elements(operation, "body", "fault", "header", "headerfault"):
            if bound.get("use") not in (None, "literal"):
                problems.append(f"{operation.get('name')}: {etree.QName(bound).localname} use={bound.get('use')}")
            if bound.get("encodingStyle") is not None:
                problems.append(f"{operation.get('name')}: {etree.QName(bound).localname} names an encodingStyle")
    return problems


@description_rule("R2710", "distinct wire signatures")
def wire_signatures_are_distinct(d: Description) -> list[str]:
    problems = []
    for binding in d.xpath("wsdl:binding"):
        seen: dict[str, str] = {}
        for operation in d.xpath("wsdl:operation", binding):
            if d.style(binding, operation) == "rpc":
                body = d.xpath("wsdl:input/soapbind:body", operation)
                signature = f"{{{body[0].get('namespace') if body else ''}}}{operation.get('name')}"
            else:
                parts = d.body_parts(binding, operation, "input")
                signature = qname(parts[0], "element") if parts else "(empty body)"
            if signature in seen:
                problems.append(f"{seen[signature]} and {operation.get('name')} both send {signature}")
            seen[signature] = operation.get("name")
    return problems


@description_rule("R2711", "(SHOULD) one address per port")
def ports_have_distinct_addresses(d: Description) -> list[str]:
    locations = d.xpath("wsdl:service/wsdl:port/soapbind:address/@location")
    return [f"{location} used by {locations.count(location)} ports" for location in sorted(set(locations))
            if locations.count(location) > 1]


def _namespace_attributes(d: Description, style: str, names: tuple[str, ...]) -> list[str]:
    return [f"{operation.get('name')}: {etree.QName(bound).localname} namespace={bound.get('namespace')}"
            for _, operation, operation_style in d.bound_operations() if operation_style == style
            for bound in d.soapbind_elements(operation, *names) if bound.get("namespace") is not None]


@description_rule("R2716", "no namespace= on document-literal soapbind elements")
def document_literal_has_no_namespace(d: Description) -> list[str]:
    return _namespace_attributes(d, "document", ("body", "header", "headerfault", "fault"))


@description_rule("R2717", "rpc-literal body has an absolute namespace")
def rpc_literal_body_has_a_namespace(d: Description) -> list[str]:
    return [f"{operation.get('name')}: soapbind:body namespace {body.get('namespace')!r}"
            for _, operation, style in d.bound_operations() if style == "rpc"
            for body in d.soapbind_elements(operation, "body") if not urlparse(body.get("namespace") or "").scheme]


@description_rule("R2726", "no namespace= on rpc-literal header and fault")
def rpc_literal_headers_and_faults_have_no_namespace(d: Description) -> list[str]:
    return _namespace_attributes(d, "rpc", ("header", "headerfault", "fault"))


@description_rule("R2718", "binding operations are the portType's")
def bindings_match_port_types(d: Description) -> list[str]:
    problems = []
    for binding in d.xpath("wsdl:binding"):
        port_type = d.find("portType", qname(binding, "type"))
        abstract = {} if port_type is None else {o.get("name"): o for o in d.xpath("wsdl:operation", port_type)}
        bound = {o.get("name"): o for o in d.xpath("wsdl:operation", binding)}
        problems += [f"{name} not bound" for name in sorted(set(abstract) - set(bound))]
        problems += [f"{name} bound but not in the portType" for name in sorted(set(bound) - set(abstract))]
        for name in sorted(set(abstract) & set(bound)):
            for direction in ("input", "output"):
                concrete = d.xpath(f"wsdl:{direction}/@name", bound[name])
                if concrete and concrete != d.xpath(f"wsdl:{direction}/@name", abstract[name]):
                    problems.append(f"{name} {direction} named {concrete[0]} in the binding")
    return problems


@description_rule("R2720/R2749", "headers name one part with part=")
def headers_name_their_part(d: Description) -> list[str]:
    return [f"{operation.get('name')}: {etree.QName(h).localname} {'uses parts=' if h.get('parts') else 'lacks part='}"
            for _, operation, _ in d.bound_operations() for h in d.soapbind_elements(operation, "header", "headerfault")
            if h.get("parts") is not None or not h.get("part")]


@description_rule("R2721/R2754", "soapbind:fault named as its wsdl:fault")
def faults_are_named(d: Description) -> list[str]:
    return [f"{operation.get('name')}: soapbind:fault {f.get('name')!r} in wsdl:fault {f.getparent().get('name')!r}"
            for _, operation, _ in d.bound_operations() for f in d.xpath("wsdl:fault/soapbind:fault", operation)
            if not f.get("name") or f.get("name") != f.getparent().get("name")]


@description_rule("R2740", "(SHOULD) every fault is bound")
def every_fault_is_bound(d: Description) -> list[str]:
    problems = []
    for binding, operation, _ in d.bound_operations():
        abstract = d.port_type_operation(binding, operation)
        for name in [] if abstract is None else d.xpath("wsdl:fault/@name", abstract):
            if not d.xpath("wsdl:fault[@name=$name]/soapbind:fault", operation, name=name):
                problems.append(f"{operation.get('name')}: fault {name} has no soapbind:fault")
    return problems


@description_rule("R2801", "XML Schema 1.0 that compiles")
def types_are_xml_schema_1_0(d: Description) -> list[str]:
    problems = [f"declares {namespace}" for e in d.root.iter() if isinstance(e.tag, str)
                for namespace in e.nsmap.values() if namespace in OLDER_XSD]
    try:
        d.types_schema
    except etree.XMLSchemaParseError as error:
        problems.append(f"does not compile: {error}")
    return sorted(set(problems))


# --- the description tests ---

def committed_description(version: str, data: bytes | None = None, directory: Path | None = None) -> Description:
    path = (directory or ROOT / "wsdl") / f"soap{version}.wsdl"
    return Description(version, path.read_bytes() if data is None else data, path.as_uri())


@pytest.fixture(scope="module")
def served(sqlite_server) -> dict[str, Description]:
    descriptions = {}
    for version in VERSIONS:
        url = f"{sqlite_server.endpoint(version)}?wsdl"
        response = requests.get(url, timeout=60)
        assert response.status_code == 200, response.text[:500]
        charset = re.search(r"charset=([\w-]+)", response.headers.get("Content-Type", ""))
        descriptions[version] = Description(version, response.content, url, charset.group(1) if charset else None)
    return descriptions


@pytest.mark.parametrize("rule", DESCRIPTION_RULES, ids=str)
@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: f"soap{v}")
def test_committed_description_follows(rule, version):
    assert rule.check(committed_description(version)) == []


@pytest.mark.parametrize("rule", DESCRIPTION_RULES, ids=str)
@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: f"soap{v}")
def test_served_description_follows(rule, version, served):
    assert rule.check(served[version]) == []


# --- the messages ---

@dataclass(frozen=True)
class Exchange:
    """One request to the live service and its reply, as they travelled."""
    version: str
    operation: str
    sent_headers: dict
    status: int
    http_version: int
    content_type: str
    content: bytes
    description: Description

    @property
    def is_fault(self) -> bool:
        return self.body_children()[:1] == [f"{{{SOAP_ENV[self.version]}}}Fault"]

    def root(self) -> etree._Element:
        return etree.fromstring(self.content)

    def sent_action(self) -> str | None:
        """The action as sent: SOAP 1.1's SOAPAction header, SOAP 1.2's action parameter of the media type."""
        if self.version == "11":
            return self.sent_headers.get("SOAPAction")
        found = re.search(r'action=("[^"]*")', self.sent_headers["Content-Type"])
        return found.group(1) if found else None

    def body_children(self) -> list[str]:
        return [child.tag for child in self.root().iterfind(f"{{{SOAP_ENV[self.version]}}}Body/*")]


def soap_action(description: Description, operation: str) -> str:
    [action] = description.xpath("wsdl:binding/wsdl:operation[@name=$name]/soapbind:operation/@soapAction",
                                 name=operation)
    return action


def exchange(server, description: Description, operation: str, body: str) -> Exchange:
    version, action = description.version, soap_action(description, operation)
    if version == "11":
        headers = {"Content-Type": CONTENT_TYPE[version], "SOAPAction": f'"{action}"'}
    else:
        headers = {"Content-Type": f'{CONTENT_TYPE[version]}; action="{action}"'}
    response = requests.post(server.endpoint(version), data=envelope(version, body), headers=headers, timeout=60)
    return Exchange(version, operation, headers, response.status_code, response.raw.version,
                    response.headers.get("Content-Type", ""), response.content, description)


@pytest.fixture(scope="module")
def exchanges(sqlite_server, served) -> dict[tuple[str, str], Exchange]:
    """Per SOAP version, a reply and a fault: CreateBook of a new book, GetAccount in a book that does not exist."""
    found = {}
    for version in VERSIONS:
        found[version, "reply"] = exchange(
            sqlite_server, served[version], "CreateBook",
            f"<l:CreateBook><l:code>{unique('W')}</l:code><l:name>WS-I</l:name></l:CreateBook>")
        found[version, "fault"] = exchange(
            sqlite_server, served[version], "GetAccount",
            f"<l:GetAccount><l:book>{unique('NONE')}</l:book><l:code>cash</l:code></l:GetAccount>")
    assert all(found[version, "fault"].is_fault and not found[version, "reply"].is_fault for version in VERSIONS)
    return found


@dataclass(frozen=True)
class MessageRule(Rule):
    kinds: tuple[str, ...] = ("reply", "fault")
    versions: tuple[str, ...] = tuple(VERSIONS)


MESSAGE_RULES: list[MessageRule] = []


def message_rule(number: str, meaning: str, kinds=("reply", "fault"), versions=tuple(VERSIONS)):
    def register(check):
        MESSAGE_RULES.append(MessageRule(number, meaning, check, tuple(kinds), tuple(versions)))
        return check
    return register


def _soap(x: Exchange, name: str) -> str:
    return f"{{{SOAP_ENV[x.version]}}}{name}"


@message_rule("R9980", "Envelope, optional Header, one Body")
def envelope_structure(x: Exchange) -> list[str]:
    root = x.root()
    if root.tag != _soap(x, "Envelope"):
        return [f"root element {root.tag}"]
    names = " ".join(etree.QName(c).localname if c.tag in (_soap(x, "Header"), _soap(x, "Body")) else "other"
                     for c in root if isinstance(c.tag, str))
    return [] if re.fullmatch(r"(Header )?Body( other)*", names) else [f"Envelope holds {names}"]


@message_rule("R1011", "nothing after soap:Body")
def nothing_follows_the_body(x: Exchange) -> list[str]:
    return [f"{e.tag} after soap:Body" for body in x.root().iterfind(_soap(x, "Body"))
            for e in body.itersiblings() if isinstance(e.tag, str)]


@message_rule("R1014", "Body children are qualified")
def body_children_are_qualified(x: Exchange) -> list[str]:
    return [f"unqualified {tag}" for tag in x.body_children() if not tag.startswith("{")]


@message_rule("R2712", "Body child is the output part's element, schema-valid", kinds=("reply",))
def body_child_is_the_output_element(x: Exchange) -> list[str]:
    d = x.description
    [binding] = d.xpath("wsdl:binding")
    [operation] = d.xpath("wsdl:operation[@name=$name]", binding, name=x.operation)
    [part] = d.body_parts(binding, operation, "output")
    [child] = x.root().find(_soap(x, "Body"))
    if child.tag != qname(part, "element"):
        return [f"Body holds {child.tag}, the WSDL says {qname(part, 'element')}"]
    schema = d.types_schema
    if not schema.validate(etree.fromstring(etree.tostring(child))):
        return [str(schema.error_log.last_error)]
    return []


@message_rule("R1005-R1007", "no soap:encodingStyle")
def no_encoding_style(x: Exchange) -> list[str]:
    return [f"encodingStyle on {e.tag}" for e in x.root().iter()
            if isinstance(e.tag, str) and e.get(_soap(x, "encodingStyle")) is not None]


@message_rule("R1008/R1009", "no DTD, no processing instruction")
def no_dtd_nor_processing_instructions(x: Exchange) -> list[str]:
    tree = x.root().getroottree()
    problems = ["DTD"] if tree.docinfo.doctype or tree.docinfo.internalDTD is not None else []
    return problems + [f"processing instruction {pi.target}" for pi in tree.xpath("//processing-instruction()")]


@message_rule("R1012", "UTF-8 or UTF-16")
def envelope_in_unicode(x: Exchange) -> list[str]:
    declared = (x.root().getroottree().docinfo.encoding or "").lower()
    charset = re.search(r"charset=([\w-]+)", x.content_type)
    problems = [] if declared in UNICODE_ENCODINGS else [f"declared encoding {declared}"]
    if charset is None or charset.group(1).lower() not in UNICODE_ENCODINGS:
        problems.append(f"Content-Type {x.content_type}")
    return problems


@message_rule("R1032", "no envelope-namespace attributes on Envelope, Header, Body")
def no_soap_attributes_on_the_frame(x: Exchange) -> list[str]:
    root = x.root()
    frame = [root] + [c for c in root if c.tag in (_soap(x, "Header"), _soap(x, "Body"))]
    return [f"{attribute} on {e.tag}" for e in frame for attribute in e.attrib
            if attribute.startswith(f"{{{SOAP_ENV[x.version]}}}")]


def _fault(x: Exchange) -> etree._Element:
    return x.root().find(f"{_soap(x, 'Body')}/{_soap(x, 'Fault')}")


@message_rule("R1000/R1001", "Fault children: unqualified faultcode, faultstring, faultactor, detail",
              kinds=("fault",), versions=("11",))
def fault_children_are_soap_11s(x: Exchange) -> list[str]:
    return [f"Fault child {c.tag}" for c in _fault(x) if isinstance(c.tag, str)
            and c.tag not in ("faultcode", "faultstring", "faultactor", "detail")]


@message_rule("R1004/R1031", "faultcode is a SOAP fault code QName, no dots", kinds=("fault",), versions=("11",))
def fault_code_is_a_soap_qname(x: Exchange) -> list[str]:
    code = _fault(x).find("faultcode")
    prefix, _, local = (code.text or "").partition(":")
    problems = [f"faultcode {code.text} not in the envelope namespace"] if code.nsmap.get(prefix) != SOAP_ENV["11"] else []
    return problems + ([f"faultcode {code.text} refined with dots"] if "." in local else [])


@message_rule("R1126", "a fault comes with HTTP 500", kinds=("fault",), versions=("11",))
def faults_are_http_500(x: Exchange) -> list[str]:
    return [] if x.status == 500 else [f"HTTP {x.status}"]


@message_rule("R1111/R1124", "a reply comes with 200 OK", kinds=("reply",))
def replies_are_http_200(x: Exchange) -> list[str]:
    return [] if x.status == 200 else [f"HTTP {x.status}"]


@message_rule("R1140/R1141", "HTTP/1.1")
def replies_are_http_1_1(x: Exchange) -> list[str]:
    return [] if x.http_version == 11 else [f"HTTP/{x.http_version / 10}"]


@message_rule("R2744/R1109", "the WSDL's soapAction, quoted, is accepted", kinds=("reply",))
def wsdl_soap_action_is_accepted(x: Exchange) -> list[str]:
    action, sent = soap_action(x.description, x.operation), x.sent_action()
    problems = [] if sent == f'"{action}"' else [f"sent {sent}, the WSDL says {action}"]
    answered = x.body_children()
    if answered != [f"{{{TNS}}}{x.operation}Response"]:
        problems.append(f"{x.operation} with its soapAction was answered with {answered}")
    return problems


MESSAGE_CASES = [pytest.param(rule, version, kind, id=f"soap{version}-{kind}-{rule}")
                 for rule in MESSAGE_RULES for version in rule.versions for kind in rule.kinds]


@pytest.mark.parametrize("rule, version, kind", MESSAGE_CASES)
def test_message_follows(rule, version, kind, exchanges):
    assert rule.check(exchanges[version, kind]) == []


# --- negative self-checks: each checker reports its rule broken ---

def _add(parent: etree._Element, tag: str, index: int | None = None, **attributes: str) -> etree._Element:
    element = etree.Element(tag, **attributes)
    parent.append(element) if index is None else parent.insert(index, element)
    return element


def _one(root: etree._Element, path: str) -> etree._Element:
    [found] = root.xpath(path, namespaces={"wsdl": WSDL, "xs": XSD, "soapbind": SOAPBIND["11"]})
    return found


def _import_wsdl(root, directory, namespace=TNS, location="other.wsdl"):
    (directory / "other.wsdl").write_bytes(committed_description("11").data)
    _add(root, _w("import"), 0, namespace=namespace, location=location)


def _import_schema_as_wsdl(root, directory):
    (directory / "types.xsd").write_bytes(etree.tostring(_one(root, "wsdl:types/xs:schema")))
    _add(root, _w("import"), 0, namespace=TNS, location="types.xsd")


def _schema_location_to_wsdl(root, directory):
    (directory / "other.wsdl").write_bytes(committed_description("11").data)
    _add(_one(root, "wsdl:types/xs:schema"), _xs("import"), 0, namespace="urn:other", schemaLocation="other.wsdl")


def _part_of(root, message: str) -> etree._Element:
    return _one(root, f"wsdl:message[@name='{message}']/wsdl:part")


def _part_declared_with_type(root, message: str):
    part = _part_of(root, message)
    part.set("type", part.attrib.pop("element"))


def _second_part(root):
    _add(_one(root, "wsdl:message[@name='GetBalance']"), _w("part"), name="extra", element="tns:GetAccount")


def _rpc(root):
    for bound in root.xpath("//soapbind:binding | //soapbind:operation", namespaces={"soapbind": SOAPBIND["11"]}):
        bound.set("style", "rpc")


def _get_balance_binding(root) -> etree._Element:
    return _one(root, "wsdl:binding/wsdl:operation[@name='GetBalance']")


def _move_output_first(root):
    operation = _one(root, "wsdl:portType/wsdl:operation[@name='GetBalance']")
    operation.insert(0, _one(operation, "wsdl:output"))


def _duplicate_operation(root):
    port_type = _one(root, "wsdl:portType")
    port_type.append(etree.fromstring(etree.tostring(_one(port_type, "wsdl:operation[@name='GetBalance']"))))


def _with_schema_prefixes(tag: str, **attributes) -> etree._Element:
    return etree.Element(tag, nsmap={"xs": XSD, "tns": TNS, "soapenc": SOAPENC}, **attributes)


def _soap_encoded_array(root):
    array = _with_schema_prefixes(_xs("complexType"), name="LineList")
    content = etree.SubElement(etree.SubElement(array, _xs("complexContent")), _xs("restriction"), base="soapenc:Array")
    etree.SubElement(content, _xs("sequence"))
    _one(root, "wsdl:types/xs:schema").insert(0, array)


def _header_with_parts(root):
    _add(_one(_get_balance_binding(root), "wsdl:input"), f"{{{SOAPBIND['11']}}}header", message="tns:GetBalance",
         parts="parameters", use="literal")


def _second_port_same_address(root):
    port = _one(root, "wsdl:service/wsdl:port")
    twin = etree.fromstring(etree.tostring(port))
    twin.set("name", "LedgerAgain")
    port.addnext(twin)


def _xml_prefix_declared(data: bytes) -> bytes:
    declaration = b'xmlns:xml="http://www.w3.org/XML/1998/namespace" '
    return data.replace(b"<wsdl:definitions ", b"<wsdl:definitions " + declaration, 1)




BROKEN_DESCRIPTIONS = {
    "R2001/R2002": _import_schema_as_wsdl,
    "R2003": lambda root, _: _add(root, _xs("import"), 0, namespace="urn:other"),
    "R2004": _schema_location_to_wsdl,
    "R2005": lambda root, directory: _import_wsdl(root, directory, namespace="urn:somewhere-else"),
    "R2007": lambda root, directory: _import_wsdl(root, directory, location=""),
    "R2803": lambda root, directory: _import_wsdl(root, directory, namespace="relative/name"),
    "R2022": lambda root, _: _add(root, _w("import"), namespace="urn:late", location="late.wsdl"),
    "R2023": lambda root, _: root.insert(0, _one(root, "wsdl:message[@name='GetBalance']")),
    "R2030": lambda root, _: _add(_one(root, "wsdl:portType"), _w("documentation")),
    "R2026": lambda root, _: _one(root, "wsdl:binding/soapbind:binding").set(_w("required"), "true"),
    "R2101": lambda root, _: _one(root, "wsdl:service/wsdl:port").set("binding", "elsewhere:Ledger"),
    "R2102": lambda root, _: _one(root, "//xs:complexType[@name='Balance']//xs:element[@name='balance']").set(
        "type", "tns:Money"),
    "R2105": lambda root, _: _one(root, "wsdl:types/xs:schema").attrib.pop("targetNamespace"),
    "R2110": lambda root, _: _soap_encoded_array(root),
    "R2111": lambda root, _: _one(root, "//xs:complexType[@name='LineArray']").set(_w("arrayType"), "tns:Line[]"),
    "R2112": lambda root, _: _one(root, "wsdl:types/xs:schema").append(
        _with_schema_prefixes(_xs("element"), name="ArrayOfLine", type="tns:LineArray")),
    "R2201/R2210": lambda root, _: _second_part(root),
    "R2203": lambda root, _: _rpc(root),
    "R2204": lambda root, _: _part_declared_with_type(root, "GetBalance"),
    "R2205": lambda root, _: _part_declared_with_type(root, "LedgerFault"),
    "R2206": lambda root, _: _part_of(root, "GetBalance").set("element", "tns:Balance"),
    "R2209": lambda root, _: _second_part(root) or _one(_get_balance_binding(root), "wsdl:input/soapbind:body").set(
        "parts", "parameters"),
    "R2303": lambda root, _: _move_output_first(root),
    "R2304": lambda root, _: _duplicate_operation(root),
    "R2305": lambda root, _: _one(root, "wsdl:portType/wsdl:operation[@name='GetBalance']").set(
        "parameterOrder", "book"),
    "R2306": lambda root, _: _part_of(root, "GetBalance").set("type", "tns:GetBalance"),
    "R2401": lambda root, _: _one(root, "wsdl:binding").remove(_one(root, "wsdl:binding/soapbind:binding")),
    "R2701": lambda root, _: _one(root, "wsdl:binding/soapbind:binding").attrib.pop("transport"),
    "R2702": lambda root, _: _one(root, "wsdl:binding/soapbind:binding").set("transport",
                                                                             "http://schemas.xmlsoap.org/soap/smtp"),
    "R2705": lambda root, _: _one(_get_balance_binding(root), "soapbind:operation").set("style", "rpc"),
    "R2706/R2707": lambda root, _: _one(_get_balance_binding(root), "wsdl:output/soapbind:body").set("use", "encoded"),
    "R2710": lambda root, _: _part_of(root, "GetEntry").set("element", "tns:GetBalance"),
    "R2711": lambda root, _: _second_port_same_address(root),
    "R2716": lambda root, _: _one(_get_balance_binding(root), "wsdl:input/soapbind:body").set("namespace", TNS),
    "R2717": lambda root, _: _rpc(root),
    "R2726": lambda root, _: _rpc(root) or _one(_get_balance_binding(root), "wsdl:fault/soapbind:fault").set(
        "namespace", TNS),
    "R2718": lambda root, _: _one(root, "wsdl:binding").remove(_get_balance_binding(root)),
    "R2720/R2749": lambda root, _: _header_with_parts(root),
    "R2721/R2754": lambda root, _: _one(_get_balance_binding(root), "wsdl:fault/soapbind:fault").set("name", "Other"),
    "R2740": lambda root, _: _get_balance_binding(root).remove(_one(_get_balance_binding(root), "wsdl:fault")),
    "R2801": lambda root, _: _one(root, "//xs:complexType[@name='Balance']//xs:element[@name='balance']").set(
        "type", "xs:money"),
}
BROKEN_ENCODINGS = {
    "R4003": lambda data: etree.tostring(etree.fromstring(data), xml_declaration=True, encoding="ISO-8859-1"),
    "R4004": lambda data: data.replace(b"<?xml version='1.0'", b"<?xml version='1.1'", 1),
    "R4005": _xml_prefix_declared,
}


def _changed_tree(change: Callable[[Exchange, etree._Element], None]) -> Callable[[Exchange], Exchange]:
    def broken(x: Exchange) -> Exchange:
        root = x.root()
        change(x, root)
        return dataclasses.replace(x, content=etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    return broken


def _body(x: Exchange, root: etree._Element) -> etree._Element:
    return root.find(_soap(x, "Body"))


def _latin_1(x: Exchange) -> Exchange:
    return dataclasses.replace(x, content=etree.tostring(x.root(), xml_declaration=True, encoding="ISO-8859-1"),
                               content_type="text/xml; charset=iso-8859-1")


# rule number -> (the SOAP 1.1 exchange broken, how)
BROKEN_EXCHANGES = {
    "R9980": ("reply", _changed_tree(lambda x, root: root.append(etree.fromstring(etree.tostring(_body(x, root)))))),
    "R1011": ("reply", _changed_tree(lambda x, root: etree.SubElement(root, "{urn:else}After"))),
    "R1014": ("reply", _changed_tree(lambda x, root: etree.SubElement(_body(x, root), "unqualified"))),
    "R2712": ("reply", _changed_tree(lambda x, root: _body(x, root)[0].remove(_body(x, root)[0][0]))),
    "R1005-R1007": ("reply", _changed_tree(lambda x, root: _body(x, root)[0].set(_soap(x, "encodingStyle"), SOAPENC))),
    "R1008/R1009": ("reply", lambda x: dataclasses.replace(x, content=x.content.replace(b"?>", b"?><?audit on?>", 1))),
    "R1012": ("reply", _latin_1),
    "R1032": ("reply", _changed_tree(lambda x, root: _body(x, root).set(_soap(x, "actor"), "urn:else"))),
    "R1000/R1001": ("fault", _changed_tree(lambda x, root: etree.SubElement(_fault_in(x, root), f"{{{TNS}}}extra"))),
    "R1004/R1031": ("fault", _changed_tree(lambda x, root: setattr(_fault_in(x, root).find("faultcode"), "text",
                                                                   "soap11env:Client.Validation"))),
    "R1126": ("fault", lambda x: dataclasses.replace(x, status=200)),
    "R1111/R1124": ("reply", lambda x: dataclasses.replace(x, status=202)),
    "R1140/R1141": ("reply", lambda x: dataclasses.replace(x, http_version=10)),
    "R2744/R1109": ("reply", lambda x: dataclasses.replace(x, sent_headers={"SOAPAction": x.operation})),
}


def _fault_in(x: Exchange, root: etree._Element) -> etree._Element:
    return _body(x, root).find(_soap(x, "Fault"))


def _rule(rules: list[Rule], number: str) -> Rule:
    [found] = [rule for rule in rules if rule.number == number]
    return found


def test_every_rule_has_a_negative_self_check():
    assert {rule.number for rule in DESCRIPTION_RULES} == set(BROKEN_DESCRIPTIONS) | set(BROKEN_ENCODINGS)
    assert {rule.number for rule in MESSAGE_RULES} == set(BROKEN_EXCHANGES)


@pytest.mark.parametrize("number", BROKEN_DESCRIPTIONS)
def test_description_checker_reports_its_rule_broken(number, tmp_path):
    root = etree.fromstring(committed_description("11").data)
    BROKEN_DESCRIPTIONS[number](root, tmp_path)
    (tmp_path / "soap11.wsdl").write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    assert _rule(DESCRIPTION_RULES, number).check(committed_description("11", directory=tmp_path)) != []


@pytest.mark.parametrize("number", BROKEN_ENCODINGS)
def test_description_checker_reports_its_encoding_rule_broken(number):
    broken = BROKEN_ENCODINGS[number](committed_description("11").data)
    assert _rule(DESCRIPTION_RULES, number).check(committed_description("11", data=broken)) != []


@pytest.mark.parametrize("number", BROKEN_EXCHANGES)
def test_message_checker_reports_its_rule_broken(number, exchanges):
    kind, breaking = BROKEN_EXCHANGES[number]
    assert _rule(MESSAGE_RULES, number).check(breaking(exchanges["11", kind])) != []
