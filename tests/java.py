"""What the tests that compile and run Java share: Debian's jars under /usr/share/java, named without
their version, and a class path of them."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import REQUIRE_INTEROP

SHARE_JAVA = Path("/usr/share/java")


def classpath(*entries: Path | str) -> str:
    return os.pathsep.join(str(entry) for entry in entries)


def jars(names: list[str], packages: str) -> list[Path]:
    """Debian's jars of these names; the test is skipped when one is missing (fails instead under
    LEDGER_REQUIRE_INTEROP=1), naming the packages that install them."""
    paths = [SHARE_JAVA / f"{name}.jar" for name in names]
    missing = [str(path) for path in paths if not path.exists()]
    if missing:
        message = f"jars missing (apt-get install {packages}): {', '.join(missing)}"
        if REQUIRE_INTEROP:
            pytest.fail(message)
        pytest.skip(message)
    return paths
