"""The README's first hour, run as written: its curl, zeep and ledger_client snippets against a live
service on a fresh database, each printing what the README's comments say it prints."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from conftest import LiveServer, cli
from snippets import ROOT, snippet

README = ROOT / "README.md"
README_URL = "http://127.0.0.1:8000"


def expected_output(code: str) -> list[str]:
    """What the snippet's `print(...)   # 349.90 (a Decimal)` comments say it prints."""
    return [comment.split()[0] for comment in re.findall(r"print\(.*\)\s+#\s*(.+)", code)]


@pytest.fixture(scope="module")
def walkthrough(request, tmp_path_factory):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    # As the README runs it: `serve` on no database at all, then `clients add` on the database it made.
    server = LiveServer(f"sqlite:///{tmp_path_factory.mktemp('walkthrough') / 'var' / 'ledger.db'}")
    server.start(tmp_path_factory.mktemp("logs"))
    request.addfinalizer(server.stop)
    added = cli("clients", "add", "admin", "--system-admin", env={"LEDGER_DATABASE_URL": server.database_url})
    assert added.returncode == 0, added.stderr
    return server, added.stdout.strip()


def run_python(code: str, server, password: str) -> str:
    code = code.replace(README_URL, server.url).replace('PASSWORD = "..."', f"PASSWORD = {password!r}")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_first_hour_works_as_the_readme_tells_it(walkthrough):
    server, password = walkthrough
    curl = snippet(README, "**With curl**", "sh").replace(README_URL, server.url).replace("PASSWORD=...", f"PASSWORD={password}")
    answered = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=120)
    assert answered.returncode == 0, answered.stderr
    assert "<tns:balance>250.00</tns:balance>" in answered.stdout, answered.stdout[-500:]

    zeep_code = snippet(README, "**With zeep**", "python")
    assert run_python(zeep_code, server, password).split() == expected_output(zeep_code) == ["349.90"]
    client_code = snippet(README, "**With the Python client**", "python")
    assert run_python(client_code, server, password).split() == expected_output(client_code) == ["359.90"]
