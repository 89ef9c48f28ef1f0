"""An order cancelled on Amazon after it went into Sage: is it despatched, and marking it where pickers look.

The mark is text in ``SALES_ORDER.NOTES_1`` (60 characters, one of the order's three free notes
lines, shown on the order's details in Sage and printable on its documents), the order's earlier
notes moving down a line, and ``RECORD_MODIFY_DATE``. Nothing Sage computes is touched: not the
despatch or allocation status, not stock allocation, not the ledgers; the order is never deleted.
Marking is idempotent: an order whose first note already carries the mark is left alone.

An order counts as despatched when Sage shows any of it delivered (``SOP_ITEM.QTY_DELIVERED``) or
on a despatch (``QTY_DESPATCH``), or its ``DESPATCH_STATUS`` text is anything but "not despatched".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

MARK_PREFIX = "CANCELLED ON AMAZON"
NOT_DESPATCHED = {"", "not despatched", "none"}


def mark_text(when: datetime) -> str:
    return f"{MARK_PREFIX} {when:%d/%m/%Y}: DO NOT SHIP"


def despatch_state(connection: Any, order_number: int) -> tuple[bool, str]:
    """``(despatched, what Sage shows)`` for a Sage order; ends its read transaction."""
    cursor = connection.cursor()
    try:
        row = cursor.execute("SELECT DESPATCH_STATUS FROM SALES_ORDER WHERE ORDER_NUMBER = ?", order_number).fetchone()
        status = str(row[0] or "").strip() if row else ""
        delivered, on_despatch = cursor.execute(
            "SELECT SUM(QTY_DELIVERED), SUM(QTY_DESPATCH) FROM SOP_ITEM WHERE ORDER_NUMBER = ?",
            order_number).fetchone()
    finally:
        cursor.close()
        connection.rollback()
    delivered, on_despatch = float(delivered or 0), float(on_despatch or 0)
    despatched = delivered > 0 or on_despatch > 0 or status.lower() not in NOT_DESPATCHED
    shown = f"despatch status {status or 'none'}, {delivered:g} delivered, {on_despatch:g} on a despatch"
    return despatched, shown


def mark_cancelled(connection: Any, order_number: int, when: datetime) -> bool:
    """Mark the Sage order cancelled in its notes, in one transaction; False when it already carries the mark."""
    cursor = connection.cursor()
    try:
        row = cursor.execute("SELECT NOTES_1, NOTES_2 FROM SALES_ORDER WHERE ORDER_NUMBER = ?",
                             order_number).fetchone()
        if row is None or str(row[0] or "").startswith(MARK_PREFIX):
            connection.rollback()
            return False
        cursor.execute("UPDATE SALES_ORDER SET NOTES_1 = ?, NOTES_2 = ?, NOTES_3 = ?, RECORD_MODIFY_DATE = ? "
                       "WHERE ORDER_NUMBER = ?",
                       mark_text(when), row[0] or "", row[1] or "", when.replace(microsecond=0), order_number)
        connection.commit()
        return True
    except BaseException:
        connection.rollback()
        raise
    finally:
        cursor.close()
