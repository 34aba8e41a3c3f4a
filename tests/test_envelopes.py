"""The envelope fixtures in tests/envelopes (docs/contract.md#envelope-fixtures): each case replayed against live
servers on SQLite and PostgreSQL, one test per case; what they cover; and `ledger-service fixtures run` as QA
runs it, its JUnit report, its diff on a mismatch and its --record."""
from __future__ import annotations

import shutil
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from lxml import etree

from conftest import BACKENDS, FAULT_CODES, cli, database_url, serve, unique
from ledger_service.fixtures import replay
from ledger_service.fixtures.scenarios import discover
from ledger_service.fixtures.templates import Values, compare, record
from ledger_service.wsgi import spyne_application

ENVELOPES = Path(__file__).resolve().parent / "envelopes"
SCENARIOS = discover(ENVELOPES)
KEY = Fernet.generate_key().decode()
# Faults that need the service itself broken (its database down, a bug): test_faults.py and
# test_database_outage.py provoke them; no envelope can.
BROKEN_SERVICE_CODES = {"Unavailable", "InternalError"}


class FixtureService:
    """A live server with the identities the fixtures name: `qa` (a system administrator whose secret
    is kept for PasswordDigest), `other` (no grant anywhere) and, fresh for each run, `limited` (one
    request a minute)."""

    def __init__(self, server):
        self.server = server
        self.env = {"LEDGER_DATABASE_URL": server.database_url, "LEDGER_SECRET_KEY": KEY}
        self.qa = self._add("qa", "--system-admin")
        self.other = self._add("other")

    def _add(self, role: str, *options: str) -> tuple[str, str]:
        name, password = unique(role), f"{role}-password"
        result = cli("clients", "add", name, "--password-stdin", *options, env=self.env, input=password + "\n")
        assert result.returncode == 0, result.stderr
        return name, password

    def identities(self, scenario=None) -> dict[str, tuple[str, str]]:
        """The identities for `scenario` (None: for every case): a fresh `limited` only where a case names
        it, as adding a client takes a `ledger-service` process of its own."""
        identities = {"": self.qa, "other": self.other}
        if scenario is None or any(b"limited." in step.request for step in scenario.steps):
            identities["limited"] = self._add("limited", "--rate", "1/min", "--burst", "1")
        return identities


@pytest.fixture(scope="module", params=BACKENDS)
def fixture_service(request, tmp_path_factory) -> FixtureService:
    url = database_url(request.param, request, tmp_path_factory)
    server = serve(url, tmp_path_factory.mktemp("logs"), extra_env={"LEDGER_SECRET_KEY": KEY})
    request.addfinalizer(server.stop)
    return FixtureService(server)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[scenario.name for scenario in SCENARIOS])
def test_case(fixture_service, scenario):
    service = replay.Service(fixture_service.server.url)
    try:
        results = replay.run_scenario(service, scenario, fixture_service.identities(scenario), digest=True, recording=False)
    finally:
        service.close()
    failures = [f"{result.step.name}: {result.outcome}: {result.detail}" for result in results
                if result.outcome != "passed"]
    assert not failures, "\n".join(failures)


# --- what the fixtures cover ---

def _responses() -> list[etree._Element]:
    return [etree.fromstring(path.read_bytes()) for path in ENVELOPES.rglob("response.xml")]


def test_every_operation_has_cases():
    operations = {descriptor[0].operation_name for descriptor in
                  spyne_application("soap11").interface.service_method_map.values()}
    assert operations <= {scenario.operation for scenario in SCENARIOS}


def test_every_fault_code_a_caller_can_provoke_is_answered_somewhere():
    codes = {element.text for response in _responses()
             for element in response.iter("{urn:soap-ledger:v1}code") if element.getparent().tag.endswith("LedgerFault")
             or element.getparent().tag.endswith("}fault")}
    assert codes == FAULT_CODES - BROKEN_SERVICE_CODES


def test_both_soap_versions_and_both_password_types_are_sent():
    requests = [path.read_bytes() for path in ENVELOPES.rglob("request.xml")]
    assert any(b"http://www.w3.org/2003/05/soap-envelope" in request for request in requests)
    assert any(b"http://schemas.xmlsoap.org/soap/envelope/" in request for request in requests)
    assert any(b"{{password_digest}}" in request for request in requests)
    assert sum(b"<wsse:Password>{{password}}</wsse:Password>" in request for request in requests) > 100


# --- matching, without a server ---

ENVELOPE = ('<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="urn:soap-ledger:v1">'
            "<e:Body><t:GetEntryResponse><t:entry><t:id>{id}</t:id><t:reference>{reference}</t:reference>"
            "</t:entry></t:GetEntryResponse></e:Body></e:Envelope>")


def test_placeholders_match_and_capture_and_prefixes_do_not_count():
    expected = ENVELOPE.format(id="{{entry_id=uuid}}", reference="{{book}}-1").encode()
    actual = ENVELOPE.format(id="3f1c2b9a-0d6e-4c1a-9b8e-2a7f5c4d3e21", reference="B7-1") \
        .replace("e:", "soap:").replace(":e=", ":soap=").replace("t:", "tns:").replace(":t=", ":tns=").encode()
    comparison = compare(expected, actual, Values({"book": "B7"}))
    assert comparison.matches, comparison.difference
    assert comparison.captured == {"entry_id": "3f1c2b9a-0d6e-4c1a-9b8e-2a7f5c4d3e21"}
    assert Values({"entry_id": "3f1c"}).fill(b"<id>{{entry_id}}</id>") == b"<id>3f1c</id>"


def test_a_mismatch_names_the_first_differing_element_and_shows_a_diff():
    expected = ENVELOPE.format(id="{{uuid}}", reference="INV-1").encode()
    actual = ENVELOPE.format(id="not-a-uuid", reference="INV-2").encode()
    comparison = compare(expected, actual, Values())
    assert not comparison.matches
    first, *diff = comparison.difference.splitlines()
    assert first == "first difference at /Envelope/Body/GetEntryResponse/entry/id: expected '{{uuid}}', got 'not-a-uuid'"
    assert [line.replace(" ", "") for line in diff if line[:1] in "+-" and "reference" in line] == [
        "-<t:reference>INV-1</t:reference>", "+<t:reference>INV-2</t:reference>"]


def test_recording_makes_what_varies_a_placeholder():
    actual = ENVELOPE.format(id="3f1c2b9a-0d6e-4c1a-9b8e-2a7f5c4d3e21", reference="QAB7C").encode()
    recorded = record(actual, Values({"book": "QAB7C"}))
    assert b"<t:id>{{uuid}}</t:id>" in recorded and b"<t:reference>{{book}}</t:reference>" in recorded
    assert compare(recorded, actual, Values({"book": "QAB7C"})).matches


HEAD = ('<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="urn:soap-ledger:v1">'
        "<e:Body><t:GetJournalHeadResponse><t:head><t:sequence>4</t:sequence><t:hash>{hash}</t:hash></t:head>"
        "</t:GetJournalHeadResponse></e:Body></e:Envelope>")


def test_a_journal_hash_is_recorded_as_a_placeholder_and_can_be_captured():
    actual = HEAD.format(hash="3a" * 32).encode()
    recorded = record(actual, Values())
    assert b"<t:hash>{{hash}}</t:hash>" in recorded and b"<t:sequence>4</t:sequence>" in recorded
    assert compare(recorded, actual, Values()).matches
    assert not compare(recorded, HEAD.format(hash="3A" * 32).encode(), Values()).matches
    assert not compare(recorded, HEAD.format(hash="3a" * 31).encode(), Values()).matches
    assert compare(HEAD.format(hash="{{head=hash}}").encode(), actual, Values()).captured == {"head": "3a" * 32}


# --- the command QA runs ---

def fixtures_run(fixture_service, directory: Path, *options: str):
    identities = fixture_service.identities()
    roles = [("", identities[""])] + [(role, identities[role]) for role in ("other", "limited")]
    return cli("fixtures", "run", str(directory), "--url", fixture_service.server.url, "--username",
               identities[""][0], "--password-stdin", "--as", f"other={identities['other'][0]}", "--as",
               f"limited={identities['limited'][0]}", *options,
               input="".join(f"{password}\n" for _, (_, password) in roles))


@pytest.fixture
def sqlite_fixture_service(request, tmp_path_factory) -> FixtureService:
    url = database_url("sqlite", request, tmp_path_factory)
    server = serve(url, tmp_path_factory.mktemp("logs"), extra_env={"LEDGER_SECRET_KEY": KEY})
    request.addfinalizer(server.stop)
    return FixtureService(server)


def test_the_command_replays_every_case_and_writes_junit(sqlite_fixture_service, tmp_path):
    report = tmp_path / "fixtures.xml"
    result = fixtures_run(sqlite_fixture_service, ENVELOPES, "--junit", str(report))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    steps = sum(len(scenario.steps) for scenario in SCENARIOS)
    assert result.stdout.splitlines()[-1] == f"{steps} passed of {len(SCENARIOS)} cases"
    suite = ElementTree.parse(report).getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == (str(steps), "0", "0")
    assert {case.get("classname") for case in suite.iter("testcase")} == {s.name for s in SCENARIOS}


def test_a_mismatch_fails_the_command_with_a_readable_diff(sqlite_fixture_service, tmp_path):
    case = tmp_path / "envelopes" / "GetBalance" / "posted-pending-and-as-of"
    shutil.copytree(ENVELOPES / "GetBalance" / "posted-pending-and-as-of", case)
    response = case / "07-balance-now" / "response.xml"
    response.write_text(response.read_text().replace("<tns:balance>260.00</tns:balance>",
                                                     "<tns:balance>260.01</tns:balance>"))
    report = tmp_path / "fixtures.xml"
    result = fixtures_run(sqlite_fixture_service, tmp_path / "envelopes", "--junit", str(report))
    assert result.returncode == 1
    assert "FAILED   GetBalance/posted-pending-and-as-of/07-balance-now" in result.stdout
    assert ("first difference at /Envelope/Body/GetBalanceResponse/balance/balance: expected '260.01', got '260.00'"
            in result.stdout)
    assert "-        <tns:balance>260.01</tns:balance>" in result.stdout
    assert "SKIPPED  GetBalance/posted-pending-and-as-of/08-balance-as-of-january" in result.stdout
    suite = ElementTree.parse(report).getroot()
    assert (suite.get("failures"), suite.get("skipped")) == ("1", "1")


def test_the_junit_report_is_xml_whatever_a_failure_quotes():
    """A failure's detail quotes the answer, which may hold what XML cannot carry (the control characters
    of an error page that is not XML) or what would end a CDATA section: the report stays XML, and keeps
    the rest of the text as it was."""
    scenario = next(scenario for scenario in SCENARIOS if len(scenario.steps) > 1)
    detail = "the response is not XML:\n<html>\x00\x1b[31m]]></html>"
    run = replay.Run([replay.StepResult(scenario, scenario.steps[0], "failed", detail, 0.25),
                      replay.StepResult(scenario, scenario.steps[1], "skipped", "an earlier step failed")])
    suite = etree.fromstring(run.junit())
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped"), suite.get("time")) == \
        ("2", "1", "1", "0.250")
    failed, skipped = suite.iter("testcase")
    assert (failed.get("classname"), failed.get("name")) == (scenario.name, scenario.steps[0].name)
    failure = failed.find("failure")
    assert failure.get("message") == "the response is not XML:"
    assert failure.text == "the response is not XML:\n<html>\ufffd\ufffd[31m]]></html>"
    assert skipped.find("skipped").get("message") == "an earlier step failed"


def test_record_writes_the_responses_for_review(sqlite_fixture_service, tmp_path):
    case = tmp_path / "envelopes" / "GetStatement" / "two-pages"
    shutil.copytree(ENVELOPES / "GetStatement" / "two-pages", case)
    for response in case.rglob("response.xml"):
        response.unlink()
    recorded = fixtures_run(sqlite_fixture_service, tmp_path / "envelopes", "--record")
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    for step in sorted(case.iterdir()):
        assert (step / "response.xml").read_bytes() == (ENVELOPES / "GetStatement" / "two-pages" / step.name /
                                                        "response.xml").read_bytes(), step.name
    assert fixtures_run(sqlite_fixture_service, tmp_path / "envelopes").returncode == 0


def test_a_case_needing_an_identity_the_run_lacks_is_skipped(sqlite_fixture_service, tmp_path):
    qa_name, qa_password = sqlite_fixture_service.qa
    result = cli("fixtures", "run", str(tmp_path / "nowhere"), "--url", sqlite_fixture_service.server.url)
    assert result.returncode == 1 and "is not a folder of envelope fixtures" in result.stderr
    case = tmp_path / "envelopes" / "GetBalance" / "no-grant-on-the-book"
    shutil.copytree(ENVELOPES / "GetBalance" / "no-grant-on-the-book", case)
    result = cli("fixtures", "run", str(tmp_path / "envelopes"), "--url", sqlite_fixture_service.server.url,
                 "--username", qa_name, "--password-stdin", input=qa_password + "\n")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "needs {{other.username}}, which this run was not given" in result.stdout
