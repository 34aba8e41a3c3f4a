"""Fails the CI run unless the tests of each group named (postgres, interop, faults) ran and none of
them was skipped.

    required_ran.py JUNIT.xml GROUP ...

tests/conftest.py gives each such test the property postgres=yes, interop=yes or faults=yes in the JUnit
report.
"""
import sys
import xml.etree.ElementTree as ElementTree

REQUIRED = sys.argv[2:]

cases = list(ElementTree.parse(sys.argv[1]).getroot().iter("testcase"))
failures = []
for group in REQUIRED:
    members = [case for case in cases if any(p.get("name") == group for p in case.iter("property"))]
    skipped = [case.get("name") for case in members if case.find("skipped") is not None]
    ran = len(members) - len(skipped)
    print(f"ci: {ran} {group} tests ran, {len(skipped)} skipped")
    if skipped or ran == 0:
        failures.append(f"{group} tests must run in CI; " + (f"skipped: {', '.join(skipped)}" if skipped else "none ran"))
if failures:
    sys.exit("ci: " + "\nci: ".join(failures))
