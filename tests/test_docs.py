"""/docs (docs/contract.md#layout-and-endpoints): the HTML reference generated from the contract at start-up,
read over HTTP and used in a real headless browser (Debian's chromium), which follows every operation's
anchor."""
from __future__ import annotations

from pathlib import Path

import pytest
import requests
from lxml import etree, html

from conftest import FAULT_CODES, require_tools, start_server
from ledger_service.wsgi import contracts

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
NS = {"wsdl": "http://schemas.xmlsoap.org/wsdl/", "xs": "http://www.w3.org/2001/XMLSchema"}
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1400,1000"]


def contract_names() -> tuple[list[str], list[str]]:
    document = etree.fromstring(contracts()["soap11"].document)
    operations = [op.get("name") for op in document.iterfind("wsdl:portType/wsdl:operation", NS)]
    wrappers = set(operations) | {f"{name}Response" for name in operations}
    types = [t.get("name") for t in document.iterfind("wsdl:types/xs:schema/*", NS)
             if t.tag.endswith("Type") and t.get("name") not in wrappers and not t.get("name").endswith("Array")]
    return operations, types


@pytest.fixture(scope="module")
def page(sqlite_server):
    response = requests.get(f"{sqlite_server.url}/docs", timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    return html.fromstring(response.content)


def test_every_operation_type_and_fault_code_is_on_the_page(page):
    operations, types = contract_names()
    assert [section.get("id") for section in page.xpath("//section[contains(@class, 'operation')]")] == [f"op-{op}" for op in operations]
    assert {section.get("id") for section in page.xpath("//section[contains(@class, 'type')]")} == {f"type-{t}" for t in types}
    assert {row.get("id") for row in page.xpath("//tr[starts-with(@id, 'fault-')]")} == {f"fault-{code}" for code in FAULT_CODES}
    for operation in operations:
        section = page.get_element_by_id(f"op-{operation}")
        assert section.findtext("h3") == operation
        assert section.xpath(".//span[@class='role']")[0].text, operation
        request, response = (block.text_content() for block in section.xpath(".//pre/code"))
        assert f":{operation}>" in request and f"{operation}Response" in response and "Fault" not in response
    post = page.get_element_by_id("op-PostEntry")
    assert [cell.text_content() for cell in post.xpath(".//table//tr/td[1]")] == ["book", "entry"]


def test_every_link_on_the_page_leads_somewhere(page, sqlite_server):
    ids = {element.get("id") for element in page.iter() if element.get("id")}
    for link in page.iter("a"):
        target = link.get("href")
        if target.startswith("#"):
            assert target[1:] in ids, target
        else:  # the endpoints' own addresses, absolute
            assert target.startswith(sqlite_server.url + "/"), target
            assert requests.get(target, timeout=30).status_code == 200, target


# Markup in a fixture, which /docs shows as an example: it must arrive as text.
HOSTILE = '</code></pre><script>alert("docs")</script><img src=x onerror="alert(1)">&amp;'


@pytest.fixture(scope="module")
def hostile_examples_server(request, tmp_path_factory):
    examples = tmp_path_factory.mktemp("examples")
    case = examples / "GetAccount" / "markup"
    case.mkdir(parents=True)
    # A request that is not XML is shown as it is; a response that is, indented, its comment kept.
    (case / "request.xml").write_text(f"<tns:GetAccount> {HOSTILE}", encoding="utf-8")
    (case / "response.xml").write_text(
        f'<r:GetAccountResponse xmlns:r="urn:soap-ledger:v1"><!-- {HOSTILE} --></r:GetAccountResponse>', encoding="utf-8")
    return start_server(request, tmp_path_factory, "sqlite", workers=1,
                        extra_env={"LEDGER_DOCS_EXAMPLES": str(examples)})


def test_examples_from_the_fixtures_are_shown_as_text(hostile_examples_server):
    response = requests.get(f"{hostile_examples_server.url}/docs", timeout=30)
    assert response.status_code == 200
    assert b"<script" not in response.content and b"<img" not in response.content
    page = html.fromstring(response.content)
    request, answer = (block.text_content() for block in page.get_element_by_id("op-GetAccount").xpath(".//pre/code"))
    assert request == f"<tns:GetAccount> {HOSTILE}"
    assert HOSTILE in answer and answer.startswith("<r:GetAccountResponse")


@pytest.mark.interop
def test_in_a_headless_browser_every_operation_is_reached_by_its_anchor(sqlite_server):
    require_tools("chromium", "chromedriver", packages="chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    browser = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    try:
        browser.get(f"{sqlite_server.url}/docs")
        assert browser.title == "soap-ledger v1 reference"
        operations, _ = contract_names()
        for operation in operations:
            browser.find_element("css selector", f'nav a[href="#op-{operation}"]').click()
            assert browser.execute_script("return location.hash") == f"#op-{operation}"
            heading = browser.find_element("css selector", f"#op-{operation} h3")
            assert heading.is_displayed() and heading.text == operation
            top = browser.execute_script(f"return document.getElementById('op-{operation}').getBoundingClientRect().top")
            scrollable = browser.execute_script("return document.documentElement.scrollHeight - window.scrollY "
                                                "> window.innerHeight + 1")
            assert 0 <= top <= 40 or not scrollable, (operation, top)
        browser.find_element("css selector", 'a[href="#fault-Unbalanced"]').click()
        assert browser.find_element("id", "fault-Unbalanced").is_displayed()
        ARTIFACTS.mkdir(exist_ok=True)
        browser.get(f"{sqlite_server.url}/docs#op-PostEntry")
        assert browser.save_screenshot(str(ARTIFACTS / "docs.png"))
    finally:
        browser.quit()
