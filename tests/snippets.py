"""The code blocks of the repository's documents: for the tests that run them as written, and for the
tests that keep a program saying what a block shows."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def snippet(document: Path, after: str, language: str) -> str:
    """The first ```language block of `document` after the first occurrence of `after`."""
    text = document.read_text()
    start = text.index(after)
    match = re.compile(rf"```{language}\n(.*?)```", re.S).search(text, start)
    assert match, f"no {language} block after {after!r} in {document.name}"
    return match.group(1)


def assert_program_has_snippet(program: Path, code: str) -> None:
    """`program` holds the block's lines one after another, as they are but for their indentation."""
    wanted = [line.strip() for line in code.strip().splitlines()]
    lines = [line.strip() for line in program.read_text().splitlines()]
    runs = (lines[start:start + len(wanted)] for start in range(len(lines) - len(wanted) + 1))
    assert wanted in runs, f"{program.name} no longer holds these lines as they are:\n" + "\n".join(wanted)
