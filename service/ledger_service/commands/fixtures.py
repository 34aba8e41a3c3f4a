"""`ledger-service fixtures run`: envelope fixtures replayed against a live service."""
from __future__ import annotations

import sys
from pathlib import Path

from ..adapters.database import Database

EXIT_FAILED, EXIT_USAGE = 1, 2


def run(args, database: Database | None) -> int:
    import getpass

    from ..fixtures import replay
    from ..fixtures.scenarios import FixtureError, discover

    roles = [("", args.username)] + [tuple(item.split("=", 1)) for item in args.identities]
    if any(len(role) != 2 or not role[1] for role in roles[1:]):
        print("ledger-service: --as takes ROLE=NAME", file=sys.stderr)
        return EXIT_USAGE
    try:
        scenarios = discover(Path(args.directory))
    except FixtureError as error:
        print(f"ledger-service: {error}", file=sys.stderr)
        return EXIT_FAILED
    identities = {}
    for role, name in roles:
        if args.password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = getpass.getpass(f"password of {name}: ")
        identities[role] = (name, password)

    def report(result) -> None:
        label = f"{result.scenario.name}" + (f"/{result.step.name}" if len(result.scenario.steps) > 1 else "")
        print(f"{result.outcome.upper():<8} {label}" + (f"  ({result.detail})" if result.outcome == "skipped" else ""))
        if result.outcome == "failed":
            print("    " + result.detail.replace("\n", "\n    "))

    try:
        outcome = replay.run(args.url, scenarios, identities, digest=not args.no_digest, recording=args.record,
                             report=report)
    except (ValueError, FixtureError, OSError) as error:
        print(f"ledger-service: {error}", file=sys.stderr)
        return EXIT_FAILED
    if args.junit:
        Path(args.junit).write_bytes(outcome.junit())
    counts = {kind: sum(1 for r in outcome.results if r.outcome == kind)
              for kind in ("passed", "failed", "skipped", "recorded")}
    print(", ".join(f"{count} {kind}" for kind, count in counts.items() if count) + f" of {len(scenarios)} cases")
    return EXIT_FAILED if outcome.failed else 0
