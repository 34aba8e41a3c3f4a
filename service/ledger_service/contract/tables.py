"""The tables of docs/contract.md that the code can write: the types with their fields and the simple
types (from the WSDL), the operations with their roles, parameters and results, and the fault codes,
all from the reference /docs is built from (reference.py). Each table stands in the document between
two markers, which this rewrites and leaves standing:

    <!-- generated: faults -->

    | code | ... |

    <!-- end generated: faults -->

After a change to the contract, run `python -m ledger_service.contract.tables` from the repository's
root; tests/test_contract_document.py fails while the document says anything else.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Callable

from .reference import ContractReference, FieldDoc, build


def _code(text: str) -> str:
    """`text` as inline code in a table cell, where a `|` would end the cell."""
    return "`" + text.replace("|", "\\|") + "`"


def _field(field: FieldDoc) -> str:
    name = _code(field.name) + ("?" if field.optional else "")
    if field.item is not None:
        return f"{name}: list of {_code(field.item[0])} ({field.item[1]})"
    return f"{name}: {field.type}"


def _fields(fields: tuple[FieldDoc, ...]) -> str:
    return ", ".join(_field(field) for field in fields) or "(none)"


def types_table(reference: ContractReference) -> list[str]:
    return ["| type | fields, in schema order (`?`: may be absent) |", "|---|---|",
            *(f"| {type_doc.name} | {_fields(type_doc.fields)} |" for type_doc in reference.types)]


def simple_types_table(reference: ContractReference) -> list[str]:
    rows = ["| type | base | values |", "|---|---|---|"]
    for simple in reference.simple_types:
        values = ["one of " + ", ".join(_code(value) for value in simple.values)] if simple.values else []
        values += [f"{kind} {_code(value)}" for kind, value in simple.facets]
        rows.append(f"| {simple.name} | {simple.base} | {'; '.join(values) or 'any'} |")
    return rows


def operations_table(reference: ContractReference) -> list[str]:
    return ["| operation | role | parameters, in order (`?`: optional) | result |", "|---|---|---|---|",
            *(f"| {operation.name} | {operation.role} | {_fields(operation.parameters)} | {_fields(operation.results)} |"
              for operation in reference.operations)]


def faults_table(reference: ContractReference) -> list[str]:
    return ["| code | SOAP 1.1 / 1.2 fault code | HTTP status | when |", "|---|---|---|---|",
            *(f"| {fault.code} | {' / '.join(fault.soap_codes)} | {fault.http_status.value} | {fault.meaning} |"
              for fault in reference.faults)]


TABLES: dict[str, Callable[[ContractReference], list[str]]] = {
    "types": types_table, "simple-types": simple_types_table, "operations": operations_table, "faults": faults_table,
}


def refresh(document: str, reference: ContractReference) -> str:
    """`document` with every generated table written afresh from `reference`."""
    for name, table in TABLES.items():
        block = re.compile(rf"(<!-- generated: {name} -->\n).*?(<!-- end generated: {name} -->)", re.DOTALL)
        if block.search(document) is None:
            raise ValueError(f"the document has no markers for the generated table {name}")
        rows = "\n".join(table(reference))
        # Blank lines about the table, so that no Markdown reader takes a marker for one of its rows.
        document = block.sub(lambda found: f"{found.group(1)}\n{rows}\n\n{found.group(2)}", document)
    return document


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ledger_service.contract.tables",
                                     description="write docs/contract.md's generated tables afresh")
    parser.add_argument("--wsdl", default="wsdl/soap11.wsdl", type=Path, help="the contract (default: %(default)s)")
    parser.add_argument("document", nargs="?", default="docs/contract.md", type=Path,
                        help="the document to rewrite (default: %(default)s)")
    args = parser.parse_args(argv)
    text = args.document.read_text(encoding="utf-8")
    refreshed = refresh(text, build(args.wsdl.read_bytes()))
    if refreshed != text:
        args.document.write_text(refreshed, encoding="utf-8")
        print(f"{args.document}: tables written afresh", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
