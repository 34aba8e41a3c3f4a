"""Contract values to XML elements and back, as a request runs.

Spyne builds the contract and the WSDL from the models in `types.py`; this reads an operation's
request element into its arguments and writes its result, driven by those same models, each
compiled once into a plan of its elements. Spyne's own (de)serializer walks every model's
attributes again for every value it meets, which cost more than the rest of a request did. A
request reaching `read` has been validated against the schema, so reading need not doubt what it
finds: every required element is there, every value is of its type.

Values read are `Record`s, whose attributes are the contract's field names (absent optional fields
are None, lists are lists); values written may be any objects with those attributes.
"""
from __future__ import annotations

import base64
import re
import threading
from datetime import date, datetime
from decimal import Decimal as Number
from types import SimpleNamespace as Record
from typing import Callable

from lxml import etree
from spyne.model.binary import ByteArray
from spyne.model.complex import Array, ComplexModelBase
from spyne.model.enum import EnumBase
from spyne.model.primitive import Boolean, Date, DateTime, Decimal, Integer, Unicode

from ..domain.errors import FaultCode, LedgerError

__all__ = ["Record", "read_arguments", "write_result", "write"]

_DATE = re.compile(r"(\d{4})-(\d\d)-(\d\d)(?:Z|[+-]\d\d:\d\d)?")


def _date(text: str) -> date:
    """An xs:date as the date it names (a timezone, which the schema allows, changes no day)."""
    match = _DATE.fullmatch(text.strip())
    try:
        return date(*map(int, match.groups()))
    except (AttributeError, ValueError):
        # Valid XML Schema, but outside the years a ledger keeps (0001 to 9999).
        raise LedgerError(FaultCode.SchemaValidation, f"{text!r} is not a date between 0001-01-01 and 9999-12-31")


def _boolean(text: str) -> bool:
    return text.strip() in ("true", "1")


# How each simple type is read from and written to element text, most specific first.
_SIMPLE: list[tuple[type, Callable[[str], object], Callable[[object], str]]] = [
    (EnumBase, str, str),
    (Boolean, _boolean, lambda value: "true" if value else "false"),
    (Integer, lambda text: int(text.strip()), str),
    # Plain notation with every place the value has: 10.50, never 1.05E+1.
    (Decimal, lambda text: Number(text.strip()), lambda value: format(value, "f")),
    (Date, _date, lambda value: value.isoformat()),  # Spyne's Date is a DateTime
    (DateTime, lambda text: datetime.fromisoformat(text.strip()), lambda value: value.isoformat()),
    (Unicode, str, str),
    (ByteArray, base64.b64decode, lambda value: base64.b64encode(value).decode("ascii")),
]


class _Simple:
    def __init__(self, model):
        self.read_text, self.write_text = next((read, write) for base, read, write in _SIMPLE
                                               if issubclass(model, base))

    def read(self, element):
        return self.read_text(element.text or "")

    def write(self, parent, tag: str, value) -> None:
        etree.SubElement(parent, tag).text = self.write_text(value)


class _List:
    """A wrapper element of repeated items (`lines/line`)."""

    def __init__(self, model):
        (item_name, item_model), = model._type_info.items()
        self.item_tag = _qualified(model, item_name)
        self.item = _plan(item_model)

    def read(self, element):
        items = []
        for position, child in enumerate(element):
            try:
                items.append(self.item.read(child))
            except LedgerError as error:
                raise error.within(position)
        return items

    def write(self, parent, tag: str, values) -> None:
        wrapper = etree.SubElement(parent, tag)
        for value in values or ():
            self.item.write(wrapper, self.item_tag, value)


class _Complex:
    """A sequence of fields, each (tag, attribute name, plan)."""

    def __init__(self, model):
        self.fields: list[tuple[str, str, object]] = []
        self.model = model

    def compile(self) -> "_Complex":
        self.fields = [(_qualified(self.model, name), name, _plan(field_model))
                       for name, field_model in self.model._type_info.items()]
        return self

    def read(self, element) -> Record:
        found = {child.tag: child for child in element}
        values = {}
        for tag, name, plan in self.fields:
            child = found.get(tag)
            try:
                values[name] = None if child is None else plan.read(child)
            except LedgerError as error:
                raise error.within(name)
        return Record(**values)

    def write(self, parent, tag: str, value) -> None:
        self.write_fields(etree.SubElement(parent, tag), value)

    def write_fields(self, element, value) -> None:
        for tag, name, plan in self.fields:
            field = getattr(value, name, None)
            if field is not None:
                plan.write(element, tag, field)


def _qualified(model, name: str) -> str:
    return f"{{{model.get_namespace()}}}{name}"


_plans: dict[type, object] = {}
_compiling = threading.RLock()


def _plan(model):
    plan = _plans.get(model)
    if plan is not None:
        return plan
    with _compiling:
        if model not in _plans:
            if issubclass(model, Array):
                _plans[model] = _List(model)
            elif issubclass(model, ComplexModelBase):
                # Compiled only once every field's plan is, so that no other thread sees it half made.
                _plans[model] = _Complex(model).compile()
            else:
                _plans[model] = _Simple(model)
        return _plans[model]


def read_arguments(wrapper_model, element) -> list:
    """An operation's request element as its arguments, in the order the contract declares them."""
    record = _plan(wrapper_model).read(element)
    return [getattr(record, name) for name in wrapper_model._type_info]


def write_result(parent, wrapper_model, results) -> None:
    """An operation's `<Op>Response` element holding its results, under `parent`."""
    plan = _plan(wrapper_model)
    element = etree.SubElement(parent, _qualified(wrapper_model, wrapper_model.get_type_name()))
    plan.write_fields(element, Record(**dict(zip(wrapper_model._type_info, results))))


def write(parent, tag: str, model, value) -> None:
    """`value` as an element `tag` of the contract type `model`, under `parent`."""
    _plan(model).write(parent, tag, value)
