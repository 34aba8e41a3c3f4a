"""The house's layers (README, Architecture): the domain is plain Python, standard library only, and nothing
imports upward: domain <- service_layer <- adapters, wsse, soap and the entry points."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "service" / "ledger_service"
# What each layer may import of the package, besides itself.
MAY_IMPORT = {
    "domain": set(),
    "service_layer": {"domain"},
    # ns.py names the XML namespaces, the contract's among them, which a camt.053 document's metadata is in.
    "adapters": {"domain", "service_layer", "ns"},
    # WS-Security reads what soap/ hands it and answers in the service layer's terms, never the reverse.
    "wsse": {"domain", "service_layer", "adapters", "ns"},
}


def _room(module: Path) -> str:
    return module.relative_to(PACKAGE).parts[0]


def _imported(module: Path) -> list[tuple[str, int]]:
    """Every module `module` imports, as (dotted name inside the package or outside it, line): a name inside
    the package starts with "ledger_service."."""
    package = ["ledger_service", *module.relative_to(PACKAGE).with_suffix("").parts[:-1]]
    names = []
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[:len(package) - node.level + 1]) if node.level else ""
            name = ".".join(part for part in (base, node.module) if part)
            names += [(name, node.lineno)]
    return names


def _modules(room: str) -> list[Path]:
    return sorted((PACKAGE / room).rglob("*.py"))


@pytest.mark.parametrize("room", sorted(MAY_IMPORT))
def test_nothing_imports_upward(room):
    allowed = {room, *MAY_IMPORT[room]}
    upward = [f"{module.relative_to(PACKAGE)}:{line} imports {name}"
              for module in _modules(room) for name, line in _imported(module)
              if name.startswith("ledger_service.") and name.split(".")[1] not in allowed]
    assert not upward


def test_the_domain_imports_only_the_standard_library():
    outside = [f"{module.relative_to(PACKAGE)}:{line} imports {name}"
               for module in _modules("domain") for name, line in _imported(module)
               if not name.startswith("ledger_service.domain")
               and name.split(".")[0] not in sys.stdlib_module_names | {"__future__"}]
    assert not outside
    # And in a fresh interpreter, importing every module of the domain loads nothing else.
    loaded = subprocess.run([sys.executable, "-c", (
        "import importlib, pkgutil, sys\n"
        "before = set(sys.modules)\n"
        "import ledger_service.domain as domain\n"
        "for found in pkgutil.iter_modules(domain.__path__):\n"
        "    importlib.import_module('ledger_service.domain.' + found.name)\n"
        "print(' '.join(sorted({name.split('.')[0] for name in set(sys.modules) - before})))\n")],
        capture_output=True, text=True, check=True).stdout.split()
    assert set(loaded) - set(sys.stdlib_module_names) == {"ledger_service"}


def test_relative_imports_are_read_as_the_modules_they_name():
    """The checks above see what they look for: `from .errors` in the domain and `from ...service_layer.ports`
    two packages down in adapters name those modules of the package."""
    assert "ledger_service.domain.errors" in {name for name, _ in _imported(PACKAGE / "domain" / "books.py")}
    assert "ledger_service.service_layer.ports" in {
        name for name, _ in _imported(PACKAGE / "adapters" / "stores" / "access.py")}
