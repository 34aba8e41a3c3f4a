"""Fails the CI run unless PostgreSQL tests ran and none of them was skipped.

tests/conftest.py gives every test that runs on PostgreSQL the property postgres=yes in the JUnit report.
"""
import sys
import xml.etree.ElementTree as ElementTree


def on_postgres(case) -> bool:
    return any(p.get("name") == "postgres" for p in case.iter("property"))


cases = [case for case in ElementTree.parse(sys.argv[1]).getroot().iter("testcase") if on_postgres(case)]
skipped = [case.get("name") for case in cases if case.find("skipped") is not None]
ran = len(cases) - len(skipped)
print(f"ci: {ran} PostgreSQL tests ran, {len(skipped)} skipped")
if skipped or ran == 0:
    sys.exit("ci: PostgreSQL tests must run in CI; " + (f"skipped: {', '.join(skipped)}" if skipped else "none ran"))
