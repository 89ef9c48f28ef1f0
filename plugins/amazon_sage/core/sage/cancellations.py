"""An order cancelled on Amazon after it went into Sage: is it despatched, and marking it where pickers look.

The mark is text in ``SALES_ORDER.NOTES_1`` (60 characters, one of the order's three free notes
lines, shown on the order's details in Sage and printable on its documents), the order's earlier
notes moving down a line, and ``RECORD_MODIFY_DATE``. Nothing Sage computes is touched: not the
despatch or allocation status, not stock allocation, not the ledgers; the order is never deleted.
Marking is idempotent: an order whose first note already carries the mark is left alone.

An order counts as despatched when Sage shows any of it delivered (``SOP_ITEM.QTY_DELIVERED``) or
on a despatch (``QTY_DESPATCH``), or its ``DESPATCH_STATUS`` text is anything but "not despatched".

Some items cancelled (Amazon cancels an item whole; the order goes on): each of the order's
lines with that product code (``SOP_ITEM.STOCK_CODE``) carries the line mark in ``COMMENT_1``, its
earlier first comment joining ``COMMENT_2`` (both print on Sage's documents; Amazon orders use
only ``COMMENT_2``, for promotions), and the order's first notes line carries the items mark, its
notes moving down as for a whole cancellation. A line counts as despatched by its own
``QTY_DELIVERED`` and ``QTY_DESPATCH``. Marking is idempotent per line and per order.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

MARK_PREFIX = "CANCELLED ON AMAZON"
ITEMS_MARK_PREFIX = "ITEMS CANCELLED ON AMAZON"  # not MARK_PREFIX's start: a later whole cancellation still marks
NOT_DESPATCHED = {"", "not despatched", "none"}
COMMENT_WIDTH = 60


def mark_text(when: datetime) -> str:
    return f"{MARK_PREFIX} {when:%d/%m/%Y}: DO NOT SHIP"


def items_mark_text(when: datetime) -> str:
    return f"{ITEMS_MARK_PREFIX} {when:%d/%m/%Y}: SEE LINES"


@dataclass(frozen=True)
class SageLine:
    """One line of a Sage order, as the item-cancellation checks need it."""

    item_number: int
    stock_code: str
    delivered: float
    on_despatch: float
    marked: bool

    @property
    def despatched(self) -> bool:
        return self.delivered > 0 or self.on_despatch > 0


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


def lines_of(connection: Any, order_number: int, stock_codes: Collection[str]) -> list[SageLine]:
    """The order's lines with any of ``stock_codes``, in line order; ends its read transaction."""
    cursor = connection.cursor()
    try:
        rows = cursor.execute("SELECT ITEM_NUMBER, STOCK_CODE, QTY_DELIVERED, QTY_DESPATCH, COMMENT_1 FROM SOP_ITEM "
                              "WHERE ORDER_NUMBER = ? ORDER BY ITEM_NUMBER", order_number).fetchall()
    finally:
        cursor.close()
        connection.rollback()
    wanted = set(stock_codes)
    return [SageLine(int(row[0]), str(row[1] or ""), float(row[2] or 0), float(row[3] or 0),
                     str(row[4] or "").startswith(MARK_PREFIX))
            for row in rows if str(row[1] or "") in wanted]


def mark_lines_cancelled(connection: Any, order_number: int, item_numbers: Collection[int], when: datetime) -> int:
    """Mark those lines, and the order once, in one transaction; return how many lines were newly marked."""
    cursor = connection.cursor()
    marked = 0
    try:
        for item_number in item_numbers:
            row = cursor.execute("SELECT COMMENT_1, COMMENT_2 FROM SOP_ITEM WHERE ORDER_NUMBER = ? AND ITEM_NUMBER = ?",
                                 order_number, item_number).fetchone()
            if row is None or str(row[0] or "").startswith(MARK_PREFIX):
                continue
            earlier = " / ".join(text for text in (str(row[0] or ""), str(row[1] or "")) if text)
            cursor.execute("UPDATE SOP_ITEM SET COMMENT_1 = ?, COMMENT_2 = ?, RECORD_MODIFY_DATE = ? "
                           "WHERE ORDER_NUMBER = ? AND ITEM_NUMBER = ?", mark_text(when),
                           earlier[:COMMENT_WIDTH], when.replace(microsecond=0), order_number, item_number)
            marked += 1
        notes = cursor.execute("SELECT NOTES_1, NOTES_2 FROM SALES_ORDER WHERE ORDER_NUMBER = ?",
                               order_number).fetchone()
        if marked and notes is not None and not str(notes[0] or "").startswith((ITEMS_MARK_PREFIX, MARK_PREFIX)):
            cursor.execute("UPDATE SALES_ORDER SET NOTES_1 = ?, NOTES_2 = ?, NOTES_3 = ?, RECORD_MODIFY_DATE = ? "
                           "WHERE ORDER_NUMBER = ?", items_mark_text(when), notes[0] or "", notes[1] or "",
                           when.replace(microsecond=0), order_number)
        connection.commit()
        return marked
    except BaseException:
        connection.rollback()
        raise
    finally:
        cursor.close()
