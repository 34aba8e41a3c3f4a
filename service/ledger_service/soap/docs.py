"""/docs: the contract as an HTML reference, built at start-up from the WSDL the service serves.

Every operation with its role, parameters, result and faults, and an example request and response
taken from the envelope fixtures; every type with its fields; every simple type with its facets; the
fault codes; both endpoints' addresses and WSDLs. The reference itself (contract/reference.py) is
what docs/contract.md's tables are written from too; this page adds the examples and the addresses,
which are the only part that differs from one request to the next (`DocsPage.at`). The template
(templates/docs.html) escapes every value it is given.
"""
from __future__ import annotations

from itertools import groupby
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined
from lxml import etree

from ..contract.reference import build
from ..ns import TNS
from .contract import ENDPOINTS, WsdlDocument

BINDING_NAMES = {"soap11": "SOAP 1.1", "soap12": "SOAP 1.2"}
_TEMPLATES = Environment(loader=PackageLoader(__package__), autoescape=True, undefined=StrictUndefined,
                         trim_blocks=True, lstrip_blocks=True)


def _pretty(document: bytes) -> str:
    """A fixture as an example, indented; text that is not XML as it is."""
    try:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_blank_text=True)
        tree = etree.fromstring(document, parser)
    except etree.XMLSyntaxError:
        return document.decode("utf-8", errors="replace")
    etree.indent(tree, space="  ")
    return etree.tostring(tree, encoding="unicode")


def examples(root: Path | None, operations: list[str]) -> dict[str, tuple[str, str]]:
    """For each of the `operations`, a step of its fixtures that calls it and gets an answer that is not a
    fault: (request, response). The last step of a case is what the case shows, so those come first."""
    found: dict[str, tuple[str, str]] = {}
    if root is None:
        return found
    for operation in operations:
        folder = root / operation
        requests = sorted(folder.rglob("request.xml")) if folder.is_dir() else []
        by_case = groupby(requests, key=lambda path: path.relative_to(folder).parts[0])
        last_steps = {max(steps) for _, steps in by_case}
        for request_path in sorted(requests, key=lambda path: (path not in last_steps, path)):
            response_path = request_path.with_name("response.xml")
            if not response_path.exists():
                continue
            request, response = request_path.read_bytes(), response_path.read_bytes()
            if f":{operation}>".encode() in request and b"Fault>" not in response:
                found[operation] = (_pretty(request), _pretty(response))
                break
    return found


class DocsPage:
    """The page of the served contracts (`soap11`, `soap12`), with the examples of the fixtures under
    `example_root` (LEDGER_DOCS_EXAMPLES, by default the checkout's), when it holds them."""

    def __init__(self, documents: dict[str, WsdlDocument], example_root: Path | None):
        reference = build(documents["soap11"].document)
        shown = examples(example_root, [operation.name for operation in reference.operations])
        self.template = _TEMPLATES.get_template("docs.html")
        self.context = {"reference": reference, "examples": shown, "tns": TNS,
                        "endpoints": ENDPOINTS, "binding_names": BINDING_NAMES}

    def at(self, base_url: str) -> bytes:
        """The page with the endpoints' addresses under `base_url` (addresses.py)."""
        return self.template.render(self.context, base_url=base_url).encode("utf-8")
