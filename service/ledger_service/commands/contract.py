"""`ledger-service contract export` and `contract check`."""
from __future__ import annotations

import sys
from pathlib import Path

from ..adapters.database import Database

EXIT_FAILED = 1


def export(args, database: Database | None) -> int:
    from ..soap.contract import export
    from ..wsgi import contracts

    for path in export(contracts(), Path(args.directory)):
        print(path)
    return 0


def check(args, database: Database | None) -> int:
    from ..contract.compatibility import breaking_changes

    baseline, current = Path(args.baseline), Path(args.directory)
    documents = sorted(baseline.glob("*.wsdl"))
    if not documents:
        print(f"ledger-service: no baseline WSDL in {baseline}", file=sys.stderr)
        return EXIT_FAILED
    changes = []
    for document in documents:
        if not (current / document.name).is_file():
            changes.append(f"{document.name}: the document is missing from {current}")
            continue
        changes += [f"{document.name}: {change}"
                    for change in breaking_changes(document.read_bytes(), (current / document.name).read_bytes())]
    for change in changes:
        print(change)
    if changes:
        print(f"{len(changes)} change(s) in {current} would break v1 consumers of {baseline}", file=sys.stderr)
        return EXIT_FAILED
    print(f"{current} is compatible with {baseline}")
    return 0
