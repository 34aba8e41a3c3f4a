"""Which differences between two WSDL 1.1 documents of the contract would break a v1 consumer.

A v1 consumer is a client generated from (or written against) the baseline document and never
rebuilt. It breaks when a request it sends is refused, or when a response no longer fits the
classes it was generated with. So most rules depend on which way a type travels: narrowing what a
client may send breaks requests, widening what it may receive breaks responses. Directions come
from walking each portType operation's input (request), output and faults (response) through the
messages, global elements and named types of the schema; a type counts as travelling a way if it
does so in either document.

Both documents are read by `reading`, which resolves every qualified name, so renaming a namespace
prefix is never reported.
"""
from __future__ import annotations

import math
import operator
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

from .reading import Definitions, Field, Parts, Restriction, display_name, read

REQUEST, RESPONSE = "request", "response"

# Fields added to response types that an answer carries only about what a caller sent with a field a
# v1 client does not have: Entry.metadata is there only on an entry posted with metadata
# (docs/contract.md#contract-rules, rule 9).
ONLY_WHEN_SENT = {"Entry": {"metadata"}}

# For each length or digits facet, the comparison (new, old) under which it admits fewer values.
_NARROWER = {"length": operator.ne, "minLength": operator.gt, "maxLength": operator.lt,
             "totalDigits": operator.lt, "fractionDigits": operator.lt}
# (side, exclusive facet, inclusive facet, comparison (new, old) of values under which a bound is tighter)
_BOUNDS = (("lower", "minExclusive", "minInclusive", operator.gt),
           ("upper", "maxExclusive", "maxInclusive", operator.lt))


def directions(definitions: Definitions) -> dict[str, set[str]]:
    """Every type an operation reaches, with the ways (request, response) it travels."""
    reached: dict[str, set[str]] = {}

    def visit(type_name: str | None, direction: str) -> None:
        if type_name is None or direction in reached.setdefault(type_name, set()):
            return
        reached[type_name].add(direction)
        for field in definitions.complex_types.get(type_name, ()):
            visit(field.type, direction)
        if type_name in definitions.simple_types:
            visit(definitions.simple_types[type_name].base, direction)

    for operations in definitions.port_types.values():
        for operation in operations.values():
            messages = [(operation.input, REQUEST), (operation.output, RESPONSE)]
            messages += [(parts, RESPONSE) for parts in operation.faults.values()]
            for parts, direction in messages:
                for _, reference in parts:
                    visit(definitions.elements.get(reference, reference), direction)
    return reached


def _count(occurs: float) -> str:
    return "unbounded" if occurs == math.inf else str(int(occurs))


def breaking_changes(baseline: bytes, current: bytes) -> list[str]:
    """One sentence per difference from `baseline` to `current` that would break a v1 consumer."""
    old, new = read(baseline), read(current)
    travels = directions(old)
    for type_name, ways in directions(new).items():
        travels.setdefault(type_name, set()).update(ways)
    return [*_port_type_changes(old, new), *_binding_changes(old, new),
            *_reference_changes("Port", "binding", old.ports, new.ports),
            *_reference_changes("Global element", "type", _shown(old.elements), _shown(new.elements)),
            *_complex_type_changes(old, new, travels), *_simple_type_changes(old, new, travels)]


def _describe(parts: Parts) -> str:
    return ", ".join(f"part {name} ({display_name(reference)})" for name, reference in parts) or "no parts"


def _port_type_changes(old: Definitions, new: Definitions) -> list[str]:
    changes = []
    for port_type, operations in old.port_types.items():
        if port_type not in new.port_types:
            changes.append(f"portType {port_type} was removed or renamed.")
            continue
        for name, was in operations.items():
            now = new.port_types[port_type].get(name)
            if now is None:
                changes.append(f"Operation {name} was removed from portType {port_type} (or renamed).")
                continue
            for role, before, after in (("input", was.input, now.input), ("output", was.output, now.output)):
                if before != after:
                    changes.append(f"Operation {name}'s {role} message changed from {_describe(before)} "
                                   f"to {_describe(after)}.")
            for fault, parts in was.faults.items():
                if fault not in now.faults:
                    changes.append(f"Operation {name} no longer declares fault {fault}.")
                elif parts != now.faults[fault]:
                    changes.append(f"Operation {name}'s fault {fault} changed from {_describe(parts)} "
                                   f"to {_describe(now.faults[fault])}.")
    return changes


def _binding_changes(old: Definitions, new: Definitions) -> list[str]:
    changes = []
    for name, binding in old.bindings.items():
        current = new.bindings.get(name)
        if current is None:
            changes.append(f"Binding {name} was removed or renamed.")
            continue
        changes += [f"Binding {name}'s {what} changed from {before} to {after}."
                    for what, before, after in (("protocol", binding.protocol, current.protocol),
                                                ("transport", binding.transport, current.transport),
                                                ("portType", binding.port_type, current.port_type))
                    if before != after]
        for operation, was in binding.operations.items():
            now = current.operations.get(operation)
            if now is None:
                changes.append(f"Operation {operation} was removed from binding {name} (or renamed).")
                continue
            if was.soap_action != now.soap_action:
                changes.append(f"Operation {operation}'s soapAction changed from {was.soap_action!r} to "
                               f"{now.soap_action!r} in binding {name}.")
            if was.style != now.style:
                changes.append(f"Operation {operation}'s style changed from {was.style} to {now.style} "
                               f"in binding {name}.")
            changes += [f"Operation {operation}'s {role} use changed from {use} to {now.uses.get(role)} "
                        f"in binding {name}." for role, use in was.uses.items() if now.uses.get(role) != use]
    return changes


def _reference_changes(kind: str, relation: str, old: dict[str, str], new: dict[str, str]) -> list[str]:
    """Named declarations that each point at another (elements at types, ports at bindings)."""
    changes = []
    for name, target in old.items():
        if name not in new:
            changes.append(f"{kind} {name} was removed or renamed.")
        elif new[name] != target:
            changes.append(f"{kind} {name} changed {relation} from {target} to {new[name]}.")
    return changes


def _shown(elements: dict[str, str | None]) -> dict[str, str]:
    return {display_name(name): display_name(type_name) for name, type_name in elements.items()}


def _complex_type_changes(old: Definitions, new: Definitions, travels: dict[str, set[str]]) -> list[str]:
    changes = []
    for type_name, old_fields in old.complex_types.items():
        shown = display_name(type_name)
        if type_name not in new.complex_types:
            changes.append(f"Complex type {shown} was removed or renamed.")
            continue
        ways = travels.get(type_name, set())
        new_fields = {field.name: field for field in new.complex_types[type_name]}
        for was in old_fields:
            if was.name in new_fields:
                changes += _field_changes(f"{shown}.{was.name}", was, new_fields[was.name], ways)
            else:
                changes.append(f"Field {shown}.{was.name} was removed or renamed.")
        known = [field.name for field in old_fields]
        added = [field for name, field in new_fields.items() if name not in known]
        if REQUEST in ways:
            changes += [f"New field {shown}.{field.name} is required, and v1 clients send {shown} without it."
                        for field in added if field.min_occurs > 0]
        # Even an optional new field breaks readers of responses: zeep, in its default strict mode,
        # refuses any element its WSDL does not declare.
        if RESPONSE in ways:
            changes += [f"New field {shown}.{field.name} appears in responses, which strict v1 clients (zeep's "
                        "default) refuse." for field in added
                        if not (field.min_occurs == 0 and field.name in ONLY_WHEN_SENT.get(shown, ()))]
        kept_order = [name for name in known if name in new_fields]
        new_order = [name for name in new_fields if name in known]
        if kept_order != new_order:
            # A sequence fixes the order: v1 requests would fail validation, and order-sensitive
            # readers (.NET's XmlSerializer) would skip fields of responses.
            changes.append(f"Fields of {shown} changed order from {', '.join(kept_order)} "
                           f"to {', '.join(new_order)}.")
    return changes


def _field_changes(field: str, was: Field, now: Field, ways: set[str]) -> list[str]:
    changes = []
    if was.type != now.type:
        changes.append(f"Field {field} changed type from {display_name(was.type)} to {display_name(now.type)}.")
    if now.max_occurs < was.max_occurs:
        changes.append(f"Field {field} allows fewer occurrences (maxOccurs {_count(was.max_occurs)} -> "
                       f"{_count(now.max_occurs)}).")
    if REQUEST in ways:
        if now.min_occurs > was.min_occurs:
            changes.append(f"Field {field} became required (minOccurs {_count(was.min_occurs)} -> "
                           f"{_count(now.min_occurs)}), and v1 clients may leave it out.")
        if was.nillable and not now.nillable:
            changes.append(f"Field {field} is no longer nillable, and v1 clients may send it as nil.")
    if RESPONSE in ways:
        if now.min_occurs < was.min_occurs:
            changes.append(f"Field {field} is no longer always present in responses (minOccurs "
                           f"{_count(was.min_occurs)} -> {_count(now.min_occurs)}).")
        if now.nillable and not was.nillable:
            changes.append(f"Field {field} became nillable, so responses may carry nil where v1 clients "
                           "expect a value.")
        if now.max_occurs > was.max_occurs:
            changes.append(f"Field {field} may repeat in responses more than v1 clients were generated for "
                           f"(maxOccurs {_count(was.max_occurs)} -> {_count(now.max_occurs)}).")
    return changes


def _simple_type_changes(old: Definitions, new: Definitions, travels: dict[str, set[str]]) -> list[str]:
    changes = []
    for type_name, was in old.simple_types.items():
        shown = display_name(type_name)
        now = new.simple_types.get(type_name)
        if now is None:
            changes.append(f"Simple type {shown} was removed or renamed.")
            continue
        if was.base != now.base:
            # Facets of different bases do not compare; the new base alone breaks generated clients.
            changes.append(f"Simple type {shown} changed base type from {display_name(was.base)} "
                           f"to {display_name(now.base)}.")
            continue
        ways = travels.get(type_name, set())
        # A removed enumeration value breaks whichever way it travels (docs/contract.md#contract-rules):
        # in requests v1 clients may send it, and a renamed value is a removal plus an addition.
        if was.values is not None and now.values is not None:
            changes += [f"Enumeration {shown} lost value {value}." for value in was.values if value not in now.values]
        # A new value is harmless in requests (v1 clients never send it), but in responses the enums
        # generated for Java and C# clients fail to read a value they do not know.
        if RESPONSE in ways and was.values is not None:
            if now.values is None:
                changes.append(f"Simple type {shown} is no longer an enumeration, so responses may carry values "
                               "v1 clients cannot read.")
            else:
                changes += [f"Enumeration {shown} gained value {value}, which v1 clients cannot read in responses."
                            for value in now.values if value not in was.values]
        # Narrowing refuses values v1 clients may send. Responses merely use fewer of the values
        # clients already accept, so a type that only travels in responses may narrow freely.
        if REQUEST in ways:
            changes += [f"Simple type {shown} narrowed: {narrowing}." for narrowing in _narrowings(was, now)]
    return changes


def _narrowings(was: Restriction, now: Restriction) -> list[str]:
    narrowings = []
    for facet, narrower in _NARROWER.items():
        before, after = was.facet(facet), now.facet(facet)
        if after is not None and (before is None or narrower(int(after), int(before))):
            narrowings.append(f"{facet} {before or '(none)'} -> {after}")
    # The patterns of one restriction are alternatives, so only adding alternatives surely widens;
    # whether one regular expression admits everything another does is not worth deciding here.
    if now.patterns and not (was.patterns and was.patterns <= now.patterns):
        narrowings.append(f"pattern {' | '.join(sorted(was.patterns)) or '(none)'} -> "
                          f"{' | '.join(sorted(now.patterns))}")
    if was.values is None and now.values is not None:
        narrowings.append(f"now restricted to {', '.join(now.values)}")
    for side, exclusive, inclusive, inwards in _BOUNDS:
        before, after = _bound(was, exclusive, inclusive), _bound(now, exclusive, inclusive)
        if after is not None and (before is None or _tighter(after, before, inwards)):
            narrowings.append(f"{side} bound {before.text if before else '(none)'} -> {after.text}")
    return narrowings


class Bound(NamedTuple):
    value: Decimal | str
    exclusive: bool
    text: str


def _bound(restriction: Restriction, exclusive: str, inclusive: str) -> Bound | None:
    for facet in (exclusive, inclusive):
        value = restriction.facet(facet)
        if value is not None:
            return Bound(_ordered(value), facet == exclusive, f"{facet} {value}")
    return None


def _tighter(after: Bound, before: Bound, inwards) -> bool:
    """Whether `after` admits less than `before`: further inwards, or exclusive where it was inclusive."""
    if after.value == before.value:
        return after.exclusive and not before.exclusive
    return inwards(after.value, before.value)


def _ordered(value: str) -> Decimal | str:
    try:
        return Decimal(value)
    except InvalidOperation:
        return value  # a date or time: ISO 8601 text of one form sorts in time order
