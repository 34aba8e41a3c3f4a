"""Python 3.11, 3.12 and 3.13: Spyne 2.14 imports on each through ledger_service/spyne_on_python312.py,
and every place that names the supported versions names the same ones."""
from __future__ import annotations

import configparser
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUPPORTED = ["3.11", "3.12", "3.13"]


def python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_spyne_imports_through_the_fix_and_the_fix_is_still_needed():
    bare = python("import spyne")
    if sys.version_info >= (3, 12):
        # Once this fails, Spyne imports on its own here: it has released the fix, and
        # spyne_on_python312 can go.
        assert bare.returncode != 0 and "spyne.util.six.moves" in bare.stderr, bare.stderr
    else:
        assert bare.returncode == 0, bare.stderr
    fixed = python("import ledger_service, spyne.protocol.soap\n"
                   "from spyne.util.six.moves.collections_abc import MutableSet\n"
                   "from spyne.util import six; print(six.get_function_name(len))")
    assert (fixed.returncode, fixed.stdout.strip()) == (0, "len"), fixed.stderr


def _declared(path: Path) -> tuple[str, list[str]]:
    config = configparser.ConfigParser()
    config.read(path)
    classifiers = re.findall(r"Programming Language :: Python :: (3\.\d+)", config["metadata"]["classifiers"])
    return config["options"]["python_requires"].replace(" ", ""), classifiers


def test_every_place_names_the_same_pythons():
    for setup in (ROOT / "setup.cfg", ROOT / "clients" / "setup.cfg"):
        assert _declared(setup) == (">=3.11,<3.14", SUPPORTED), setup
    assert f"{sys.version_info.major}.{sys.version_info.minor}" in SUPPORTED
    image = re.search(r"^FROM python:(3\.\d+)-slim", (ROOT / "deploy" / "Dockerfile").read_text(), re.M)
    assert image and image.group(1) == SUPPORTED[-1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert all(version in ci for version in SUPPORTED)
    assert "Python 3.11, 3.12 or 3.13" in (ROOT / "README.md").read_text()
