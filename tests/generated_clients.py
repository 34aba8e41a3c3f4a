"""What the tests of generated clients (Java wsimport, .NET wsdl) share: the generator runs once per
contract, its output cached under $XDG_CACHE_HOME/soap-ledger/<generator>/<key>, and the scenario
programs report what they saw as key=value lines."""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Callable

import pytest
import requests

from conftest import fault_code
from test_metadata import SCENARIO_METADATA_PRINTED, assert_scenario_metadata_posted

_SOAP_ADDRESS = re.compile(rb'(<[\w-]+:address location=")[^"]*"')


def contract_key(wsdl: bytes, options: list[str]) -> str:
    """Identifies a generator's output: the WSDL without its soap:address (which names whichever server
    served it), and the options that change what the generator writes."""
    digest = hashlib.sha256(_SOAP_ADDRESS.sub(rb'\1"', wsdl))
    digest.update(" ".join(options).encode())
    return digest.hexdigest()


def generated_once(generator: str, wsdl: bytes, options: list[str],
                   generate: Callable[[Path], subprocess.CompletedProcess]) -> Path:
    """The directory `generate` fills from this contract, with the generator's output in <generator>.log;
    from the cache when the same contract and options were seen before."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "soap-ledger" / generator
    target = root / contract_key(wsdl, options)
    if target.is_dir():
        return target
    root.mkdir(parents=True, exist_ok=True)
    # Generated beside the target and renamed into place, so that an interrupted run or a concurrent one
    # never leaves a half-written directory where the next run would trust it.
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    try:
        result = generate(staging)
        if result.returncode != 0:
            pytest.fail(f"{generator} failed:\n{result.stdout}{result.stderr}")
        (staging / f"{generator}.log").write_text(result.stdout + result.stderr)
        try:
            staging.rename(target)
        except OSError:
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def scenario_lines(result: subprocess.CompletedProcess) -> dict[str, str]:
    """A scenario program's key=value lines (it prints them in UTF-8), once it has exited 0."""
    assert result.returncode == 0, f"the scenario exited {result.returncode}:\n{result.stdout}{result.stderr}"
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


def fetch_wsdl(server, version: str) -> tuple[str, bytes]:
    """The live WSDL of one binding: its URL and its bytes."""
    url = f"{server.endpoint(version)}?wsdl"
    response = requests.get(url, timeout=60)
    response.raise_for_status()
    return url, response.content


def scenario_seen(book: str) -> dict[str, str]:
    """What every generated client's scenario program reports on success (each adds what only its stack
    can tell, such as the SOAP version it spoke)."""
    return {
        "book": book,
        "account.cash": "ASSET USD OPEN noNegativeBalance=false",
        "account.sales": "INCOME USD OPEN noNegativeBalance=false",
        "entry": "SALE-1 POSTED lines=2",
        # the entry as PostEntry returns it, as GetEntry reads it, and as ListEntries finds it by its site
        "entry.metadata": SCENARIO_METADATA_PRINTED,
        "getEntry.metadata": SCENARIO_METADATA_PRINTED,
        "listEntries": f"SALE-1 {SCENARIO_METADATA_PRINTED}",
        "balance": "100.25",
        "statement.lines": "1",
        "statement.runningBalance": "100.25",
        "statement.closingBalance": "100.25",
        "fault": "Unbalanced",
        "scenario": "ok",
    }


def assert_only_the_balanced_entry_posted(server, version: str, book: str) -> None:
    """Another stack sees what the scenario posted, and nothing of the entry that was refused."""
    service = server.zeep(version=version).service
    assert service.GetBalance(book, "cash", None).balance == Decimal("100.25")
    assert_scenario_metadata_posted(service, book, "SALE-1")
    assert fault_code(service.GetEntry, book, "SALE-2") == "EntryNotFound"
