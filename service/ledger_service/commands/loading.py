"""`ledger-service import accounts|entries BOOK FILE.csv`: a bulk load with a progress bar."""
from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from tqdm import tqdm

from .. import admin
from ..adapters.csv_files import CsvFile, ImportFileError
from ..adapters.database import Database

EXIT_FAILED = 1


def _progress_bar(total: int) -> tqdm:
    """A progress bar on stderr, redrawn in place, when stderr is a terminal; nothing otherwise (tqdm's
    `disable=None`). The size is shutil's, which falls back to 80x24 where tqdm would hide the bar: on a
    terminal that reports no size (a pseudo-terminal nobody sized)."""
    columns, lines = shutil.get_terminal_size()
    return tqdm(total=total, file=sys.stderr, disable=None, ncols=columns, nrows=lines, ascii=".#", unit=" rows",
                bar_format="[{bar:30}] {n_fmt}/{total_fmt} rows, {rate_fmt} ")


def load(args, database: Database) -> int:
    file = CsvFile(Path(args.file))
    kind = args.kind
    load = admin.import_accounts if kind == "accounts" else admin.import_entries
    started = time.monotonic()
    try:
        with _progress_bar(file.count_rows()) as bar:
            report = load(database, args.book, file, bar.update)
    except (ImportFileError, OSError) as error:
        print(f"ledger-service: {error}", file=sys.stderr)
        return EXIT_FAILED
    for line, reason in report.refused:
        print(f"{file.path}:{line}: {reason}", file=sys.stderr)
    done, unchanged = ("opened", "already open") if kind == "accounts" else ("posted", "already posted")
    seconds = time.monotonic() - started
    print(f"{kind} of book {args.book}: {report.done} {done}, {report.unchanged} {unchanged}, "
          f"{len(report.refused)} refused, of {report.rows} in {file.path.name} ({seconds:.1f} s)")
    return EXIT_FAILED if report.refused else 0
