"""Lets Spyne 2.14 import on Python 3.12 and later. Drop this module once Spyne releases the fix.

Spyne vendors six 1.14 in `spyne/util/six.py`, whose importer for `six.moves` implements only
`find_module` and `load_module`, which Python 3.12 no longer calls: `import spyne` then fails in
`spyne/util/oset.py` with "No module named 'spyne.util.six.moves'" (arskom/spyne#700; fixed on
Spyne's master, which bumped six to 1.16, and not released). This teaches the vendored importer the
three methods six 1.16 added (`find_spec`, `create_module`, `exec_module`), right after
`spyne.util.six` is executed and before anything asks it for `moves`. No file of Spyne is changed; the
vendored copy is not replaced by PyPI's six, since Spyne's copy adds functions of its own.

On Python 3.13 Spyne's SOAP protocols also `import cgi`, which PEP 594 removed; the `legacy-cgi`
package provides it (a dependency on 3.13 and later; arskom/spyne#712 and #713, merged on master).

`ledger_service/__init__.py` installs this before any module of the package imports Spyne.
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import sys

_VENDORED_SIX = "spyne.util.six"


def _find_spec(importer, fullname, path=None, target=None):
    if fullname in importer.known_modules:
        return importlib.util.spec_from_loader(fullname, importer)
    return None


def _create_module(importer, spec):
    return importer.load_module(spec.name)


def _exec_module(importer, module) -> None:
    """`create_module` has loaded it already."""


class _TeachVendoredSix:
    """A meta-path finder that finds `spyne.util.six` as usual and adds the methods to its importer
    class once the module has run; then it takes itself off the path."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != _VENDORED_SIX:
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        run_module = spec.loader.exec_module

        def exec_module(module) -> None:
            run_module(module)
            importer = module._SixMetaPathImporter
            importer.find_spec, importer.create_module, importer.exec_module = _find_spec, _create_module, _exec_module

        spec.loader.exec_module = exec_module
        return spec


def install() -> None:
    if sys.version_info >= (3, 12) and _VENDORED_SIX not in sys.modules:
        sys.meta_path.insert(0, _TeachVendoredSix())
