"""A WSDL 1.1 document of the contract read into a model: its operations and their messages, its
bindings and ports, its global elements, and the fields and restrictions of its named types.

Documents are read as this contract writes them: named types, fields as xs:element children of an
xs:sequence, simple types as restrictions. Every qualified name is kept resolved, in Clark notation
({namespace}local), so that which prefix a document chose never matters.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from lxml import etree

from ..ns import SOAP11_BINDING, SOAP12_BINDING, WSDL, XSD, qualified

SOAP_VERSIONS = {SOAP11_BINDING: "SOAP 1.1", SOAP12_BINDING: "SOAP 1.2"}

Parts = tuple[tuple[str, str | None], ...]  # a message's parts as (name, element or type)


@dataclass(frozen=True)
class Field:
    """One element of a complex type's sequence."""

    name: str
    type: str | None
    min_occurs: float
    max_occurs: float
    nillable: bool

    @property
    def optional(self) -> bool:
        return self.min_occurs == 0


@dataclass(frozen=True)
class Restriction:
    """A simple type: its base, its facets but the enumeration (in document order, a pattern once for each
    alternative), and its enumeration, None when every value of the base is allowed."""

    base: str | None
    facets: tuple[tuple[str, str], ...]
    values: tuple[str, ...] | None

    def facet(self, kind: str) -> str | None:
        return next((value for facet, value in self.facets if facet == kind), None)

    @property
    def patterns(self) -> frozenset[str]:
        return frozenset(value for facet, value in self.facets if facet == "pattern")


@dataclass(frozen=True)
class Operation:
    """A portType operation: the parts of its input, output and fault messages."""

    input: Parts
    output: Parts
    faults: dict[str, Parts]


@dataclass(frozen=True)
class BindingOperation:
    soap_action: str | None
    style: str
    uses: dict[str, str | None]  # "input", "output", "fault <name>" -> literal or encoded


@dataclass(frozen=True)
class Binding:
    protocol: str  # SOAP 1.1, SOAP 1.2, or the binding's namespace when it is neither
    transport: str | None
    port_type: str
    operations: dict[str, BindingOperation]


@dataclass(frozen=True)
class Definitions:
    """What one WSDL document (wsdl:definitions) declares, in document order."""

    port_types: dict[str, dict[str, Operation]]
    bindings: dict[str, Binding]
    ports: dict[str, str]  # "service/port" -> binding
    elements: dict[str, str | None]  # global element -> its type
    complex_types: dict[str, tuple[Field, ...]]
    simple_types: dict[str, Restriction]

    def operations(self) -> dict[str, Operation]:
        """Every operation of every portType, by name."""
        return {name: operation for operations in self.port_types.values() for name, operation in operations.items()}

    def message_fields(self, parts: Parts) -> tuple[Field, ...]:
        """The fields of a document/literal wrapped message: those of the type of its one element."""
        return tuple(field for _, reference in parts
                     for field in self.complex_types.get(self.elements.get(reference), ()))

    def list_item(self, type_name: str | None) -> Field | None:
        """The item of a list type (a wrapper whose one field repeats, as `lines/line`); None for any other."""
        fields = self.complex_types.get(type_name, ())
        return fields[0] if len(fields) == 1 and fields[0].max_occurs > 1 else None


def display_name(name: str | None) -> str:
    """A resolved name as a reader of the contract writes it: Code, xs:decimal."""
    if name is None:
        return "(none)"
    namespace, local = name[1:].split("}", 1)
    return f"xs:{local}" if namespace == XSD else local


def _w(name: str) -> str:
    return qualified(WSDL, name)


def _xs(name: str) -> str:
    return qualified(XSD, name)


def _resolve(element: etree._Element, attribute: str) -> str | None:
    """A QName-valued attribute in Clark notation."""
    value = element.get(attribute)
    if value is None:
        return None
    prefix, _, local = value.rpartition(":")
    return qualified(element.nsmap.get(prefix or None, ""), local)


def _occurs(value: str | None) -> float:
    return math.inf if value == "unbounded" else int(value or 1)


def read(document: bytes) -> Definitions:
    root = etree.fromstring(document, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
    namespace = root.get("targetNamespace", "")
    messages = {
        qualified(namespace, message.get("name")): tuple(
            (part.get("name"), _resolve(part, "element") or _resolve(part, "type"))
            for part in message.findall(_w("part")))
        for message in root.findall(_w("message"))
    }

    def parts(reference: etree._Element | None) -> Parts:
        return () if reference is None else messages.get(_resolve(reference, "message"), ())

    port_types = {
        port_type.get("name"): {
            operation.get("name"): Operation(
                parts(operation.find(_w("input"))), parts(operation.find(_w("output"))),
                {fault.get("name"): parts(fault) for fault in operation.findall(_w("fault"))})
            for operation in port_type.findall(_w("operation"))
        }
        for port_type in root.findall(_w("portType"))
    }
    ports = {f"{service.get('name')}/{port.get('name')}": display_name(_resolve(port, "binding"))
             for service in root.findall(_w("service")) for port in service.findall(_w("port"))}
    elements, complex_types, simple_types = {}, {}, {}
    for schema in root.iterfind(f"{_w('types')}/{_xs('schema')}"):
        schema_namespace = schema.get("targetNamespace", "")
        for element in schema.findall(_xs("element")):
            elements[qualified(schema_namespace, element.get("name"))] = _resolve(element, "type")
        for complex_type in schema.findall(_xs("complexType")):
            complex_types[qualified(schema_namespace, complex_type.get("name"))] = tuple(
                Field(field.get("name"), _resolve(field, "type"), _occurs(field.get("minOccurs")),
                      _occurs(field.get("maxOccurs")), field.get("nillable") in ("true", "1"))
                for field in complex_type.iterfind(f"{_xs('sequence')}/{_xs('element')}"))
        for simple_type in schema.findall(_xs("simpleType")):
            simple_types[qualified(schema_namespace, simple_type.get("name"))] = _restriction(simple_type)
    bindings = {binding.get("name"): _binding(binding) for binding in root.findall(_w("binding"))}
    return Definitions(port_types, bindings, ports, elements, complex_types, simple_types)


def _restriction(simple_type: etree._Element) -> Restriction:
    restriction = simple_type.find(_xs("restriction"))
    if restriction is None:
        return Restriction(None, (), None)
    facets = tuple((etree.QName(facet).localname, facet.get("value")) for facet in restriction
                   if isinstance(facet.tag, str) and facet.tag != _xs("enumeration"))
    values = tuple(value.get("value") for value in restriction.findall(_xs("enumeration")))
    return Restriction(_resolve(restriction, "base"), facets, values or None)


def _binding(binding: etree._Element) -> Binding:
    soap = binding.find("{*}binding")
    protocol = etree.QName(soap).namespace
    operations = {}
    for operation in binding.findall(_w("operation")):
        soap_operation = operation.find(qualified(protocol, "operation"))
        declared = {} if soap_operation is None else soap_operation.attrib
        operations[operation.get("name")] = BindingOperation(
            declared.get("soapAction"), declared.get("style") or soap.get("style") or "document",
            _body_uses(operation, protocol))
    return Binding(SOAP_VERSIONS.get(protocol, protocol), soap.get("transport"),
                   display_name(_resolve(binding, "type")), operations)


def _body_uses(operation: etree._Element, protocol: str) -> dict[str, str | None]:
    uses = {}
    for role in ("input", "output"):
        body = operation.find(f"{_w(role)}/{qualified(protocol, 'body')}")
        if body is not None:
            uses[role] = body.get("use")
    for fault in operation.findall(_w("fault")):
        soap_fault = fault.find(qualified(protocol, "fault"))
        if soap_fault is not None:
            uses[f"fault {fault.get('name')}"] = soap_fault.get("use")
    return uses
