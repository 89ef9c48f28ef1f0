"""The product's own record of every transaction it exported in an audit-trail file, and whether Sage holds it.

Sage imports the files only when the bookkeeper runs its import wizard, so between the export
and the import Sage's ``AUDIT_HEADER`` cannot tell that an order was already exported. This
ledger can. Each entry goes through three states:

``pending``
    reserved for a file that is being written; becomes ``exported`` once the file is in the
    drop folder. A crash in between leaves it ``pending``, and :meth:`ExportLedger.recover`
    settles it by whether the file reached the drop folder (its rename is atomic), so an
    order is never exported twice and never lost.
``exported``
    in a file in the drop folder, not yet found in Sage.
``confirmed``
    found in Sage's ``AUDIT_HEADER``, with its header number.

Entries are keyed by transaction type and reference, so credit notes (SC) and payments on
account (SA) for the same order can follow. The ledger is a SQLite file of its own (Python's
``sqlite3``, not Sage's ODBC), 0600 in a 0700 folder; it holds order ids, accounts and amounts,
never buyer data. :meth:`ExportLedger.locked` serialises exports across processes with an
exclusive lock on a file beside it, so recovery never touches another export's pending file.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from amazon_sage.core.files import PRIVATE_FILE, private_dir

PENDING, EXPORTED, CONFIRMED = "pending", "exported", "confirmed"
SCHEMA = """
CREATE TABLE IF NOT EXISTS exports (
    type TEXT NOT NULL,
    reference TEXT NOT NULL,
    account TEXT NOT NULL,
    gross TEXT NOT NULL,
    file TEXT NOT NULL,
    run_id TEXT NOT NULL,
    state TEXT NOT NULL,
    exported_at TEXT NOT NULL,
    confirmed_at TEXT,
    header_number INTEGER,
    PRIMARY KEY (type, reference)
)
"""


@dataclass(frozen=True)
class LedgerEntry:
    type: str
    reference: str
    account: str
    gross: Decimal
    file: str
    run_id: str
    state: str
    exported_at: datetime
    header_number: int | None = None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _entry(row: tuple) -> LedgerEntry:
    type_, reference, account, gross, file, run_id, state, exported_at, header = row
    return LedgerEntry(type_, reference, account, Decimal(gross), file, run_id, state,
                       datetime.fromisoformat(exported_at), header)


_COLUMNS = "type, reference, account, gross, file, run_id, state, exported_at, header_number"


class ExportLedger:
    """The ledger at ``path`` (created on first use)."""

    def __init__(self, path: Path):
        self.path = path
        private_dir(path.parent)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
        os.fchmod(fd, PRIVATE_FILE)
        os.close(fd)
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE), so each change is whole.
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def locked(self) -> Iterator[ExportLedger]:
        """Hold the ledger's export lock (one export at a time, across processes) for the block."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield self
        finally:
            os.close(fd)  # closing releases the lock, also when the process dies

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def entries(self, transaction_type: str, references: Iterable[str]) -> dict[str, LedgerEntry]:
        """The entries of ``transaction_type`` for ``references`` that the ledger has."""
        wanted = sorted(set(references))
        found: dict[str, LedgerEntry] = {}
        for offset in range(0, len(wanted), 500):
            part = wanted[offset:offset + 500]
            for row in self._db.execute(
                    f"SELECT {_COLUMNS} FROM exports WHERE type = ? AND reference IN ({', '.join('?' * len(part))})",
                    [transaction_type, *part]):
                found[row[1]] = _entry(row)
        return found

    def in_state(self, state: str) -> list[LedgerEntry]:
        return [_entry(row) for row in self._db.execute(
            f"SELECT {_COLUMNS} FROM exports WHERE state = ? ORDER BY exported_at, reference", [state])]

    def reserve(self, transaction_type: str, items: Iterable[tuple[str, str, Decimal]], *, file: str,
                run_id: str) -> set[str]:
        """Reserve ``(reference, account, gross)`` items for ``file``; return the references reserved.

        A reference the ledger already has is not reserved again, so only the returned ones may be
        written to the file.
        """
        stamp = _now()
        reserved: set[str] = set()
        with self._transaction() as db:
            for reference, account, gross in items:
                cursor = db.execute(
                    "INSERT OR IGNORE INTO exports (type, reference, account, gross, file, run_id, state, "
                    "exported_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [transaction_type, reference, account, str(gross), file, run_id, PENDING, stamp])
                if cursor.rowcount:
                    reserved.add(reference)
        return reserved

    def mark_exported(self, file: str) -> int:
        """The file is in the drop folder: its pending entries become exported. Returns how many."""
        with self._transaction() as db:
            return db.execute("UPDATE exports SET state = ?, exported_at = ? WHERE file = ? AND state = ?",
                              [EXPORTED, _now(), file, PENDING]).rowcount

    def discard_pending(self, file: str) -> int:
        """The file never reached the drop folder: forget its pending entries, so they are exported again."""
        with self._transaction() as db:
            return db.execute("DELETE FROM exports WHERE file = ? AND state = ?", [file, PENDING]).rowcount

    def recover(self, drop_folder: Path) -> tuple[list[str], list[str]]:
        """Settle pending entries left by a crash: ``(files found published, files discarded)``."""
        published, discarded = [], []
        files = sorted({file for (file,) in self._db.execute("SELECT DISTINCT file FROM exports WHERE state = ?",
                                                             [PENDING])})
        for file in files:
            if (drop_folder / file).exists():
                self.mark_exported(file)
                published.append(file)
            else:
                self.discard_pending(file)
                discarded.append(file)
        return published, discarded

    def confirm(self, transaction_type: str, held: dict[str, int]) -> int:
        """Sage holds these references (reference -> header number): their entries become confirmed."""
        stamp = _now()
        with self._transaction() as db:
            return sum(db.execute(
                "UPDATE exports SET state = ?, confirmed_at = ?, header_number = ? "
                "WHERE type = ? AND reference = ? AND state <> ?",
                [CONFIRMED, stamp, header, transaction_type, reference, CONFIRMED]).rowcount
                for reference, header in held.items())

    def files_named(self, prefix: str) -> set[str]:
        """Files the ledger knows whose names start with ``prefix``."""
        return {file for (file,) in self._db.execute("SELECT DISTINCT file FROM exports WHERE file LIKE ? ESCAPE '\\'",
                                                     [prefix.replace("\\", "\\\\").replace("%", "\\%")
                                                      .replace("_", "\\_") + "%"])}
