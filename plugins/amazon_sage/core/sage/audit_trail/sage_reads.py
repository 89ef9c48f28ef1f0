"""What the audit-trail route reads from Sage, over Sage's own read-only ODBC driver.

Plain ``SELECT`` with ``?`` markers, like the rest of the product's Sage SQL, and each read
ends its transaction at once (an open read transaction on SQLite blocks writers such as Sage
itself). Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

IN_LIMIT = 500  # markers per IN list, well under every driver's parameter limit


@dataclass(frozen=True)
class HeldTransaction:
    """A transaction Sage holds for a reference: its audit-trail header number and whether it was deleted."""

    header_number: int
    deleted: bool


def read_nominal_codes(connection: Any) -> set[str]:
    """The company's nominal codes (``NOMINAL_LEDGER.ACCOUNT_REF``), which every split must name."""
    cursor = connection.cursor()
    try:
        return {str(code).strip() for (code,) in cursor.execute(
            "SELECT ACCOUNT_REF FROM NOMINAL_LEDGER WHERE RECORD_DELETED = 0 OR RECORD_DELETED IS NULL").fetchall()}
    finally:
        cursor.close()
        connection.rollback()


def held_transactions(connection: Any, transaction_type: str, references: Iterable[str]) -> dict[str, HeldTransaction]:
    """The ``AUDIT_HEADER`` transactions of ``transaction_type`` whose reference (``INV_REF``) is one of ``references``.

    A reference held both live and deleted counts as live: a deleted transaction (Sage keeps it
    in the audit trail, flagged) is reported only when nothing else holds the reference.
    """
    wanted = sorted(set(references))
    found: dict[str, HeldTransaction] = {}
    cursor = connection.cursor()
    try:
        for offset in range(0, len(wanted), IN_LIMIT):
            part = wanted[offset:offset + IN_LIMIT]
            for reference, header, deleted in cursor.execute(
                    f"SELECT INV_REF, HEADER_NUMBER, DELETED_FLAG FROM AUDIT_HEADER WHERE TYPE = ? AND INV_REF IN "
                    f"({', '.join('?' * len(part))}) ORDER BY HEADER_NUMBER", [transaction_type, *part]).fetchall():
                held = HeldTransaction(int(header), bool(deleted))
                known = found.get(reference)
                if known is None or (known.deleted and not held.deleted):
                    found[reference] = held
    finally:
        cursor.close()
        connection.rollback()
    return found
