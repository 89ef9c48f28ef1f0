"""Export Despatches: Sage 50 sales orders despatched in a window -> Zynk XML ``Company/SalesOrders``.

An order is in the export when its ``RECORD_MODIFY_DATE`` is in the window (Sage stamps the
order when a despatch is posted) and its ``DESPATCH_STATUS`` is one of the statuses that count
as despatched (``DESPATCHED_STATUSES``: Sage shows ``Part`` and ``Complete``), compared ignoring
case. Deleted orders never go. Each order carries its courier (``COURIER_NAME``,
``COURIER_NUMBER``), its tracking number (``CONSIGNMENT``), ``DESPATCH_DATE`` and, per
``SOP_ITEM`` line, ``QTY_ORDER`` and ``QTY_DELIVERED``: what Sage has despatched of the line so
far, in all its despatches. The quantities are cumulative on purpose: the confirmation step
sends Amazon only what Amazon does not yet count as shipped, so the same export, or an
overlapping one, can be confirmed any number of times without a unit going twice.

Every order of the window is exported whatever its ``CUST_ORDER_NUMBER``; the confirmation
step skips the ones that are not Amazon orders, naming them. The SQL is plain ``SELECT`` with
``?`` markers, as on every Sage target.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lxml import etree

from amazon_sage.core.sage.zynk_export import record_element, sage_number, sage_time, zynk_document

ORDER_COLUMNS = ("ORDER_NUMBER", "CUST_ORDER_NUMBER", "ACCOUNT_REF", "DESPATCH_STATUS", "DESPATCH_DATE",
                 "COURIER_NUMBER", "COURIER_NAME", "CONSIGNMENT", "RECORD_MODIFY_DATE")
LINE_COLUMNS = ("ORDER_NUMBER", "ITEM_NUMBER", "STOCK_CODE", "QTY_ORDER", "QTY_DELIVERED")
LINES_PER_QUERY = 200  # orders per SOP_ITEM query: well inside every driver's parameter limit


class DespatchExportError(Exception):
    pass


def despatched_statuses(setting: str) -> set[str]:
    """``"Complete,Part"`` -> ``{"COMPLETE", "PART"}``; refuses an empty list (nothing would ever go)."""
    statuses = {part.strip().upper() for part in setting.split(",") if part.strip()}
    if not statuses:
        raise DespatchExportError("DESPATCHED_STATUSES is empty: name the Sage DESPATCH_STATUS values that count as "
                                  "despatched, e.g. Complete,Part")
    return statuses


def _order(header: dict[str, Any], lines: Iterable[dict[str, Any]]) -> etree._Element:
    courier = header["COURIER_NUMBER"]
    order = record_element("SalesOrder", (
        ("SalesOrderNumber", str(header["ORDER_NUMBER"])),
        ("CustomerOrderNumber", (header["CUST_ORDER_NUMBER"] or "").strip()),
        ("AccountReference", header["ACCOUNT_REF"] or ""),
        ("DespatchStatus", header["DESPATCH_STATUS"] or ""),
        ("DespatchDate", sage_time(header["DESPATCH_DATE"])),
        ("ConsignmentNo", (header["CONSIGNMENT"] or "").strip()),
        ("Courier", str(courier) if courier is not None else None),
        ("CourierName", (header["COURIER_NAME"] or "").strip()),
        ("DateModified", sage_time(header["RECORD_MODIFY_DATE"])),
    ))
    items = etree.SubElement(order, "SalesOrderItems")
    for line in lines:
        items.append(record_element("Item", (
            ("Sku", line["STOCK_CODE"] or ""),
            ("QtyOrdered", sage_number(line["QTY_ORDER"])),
            ("QtyDespatched", sage_number(line["QTY_DELIVERED"] or 0)),
        )))
    return order


def _lines(cursor: Any, order_numbers: list[int]) -> dict[int, list[dict[str, Any]]]:
    lines: dict[int, list[dict[str, Any]]] = {number: [] for number in order_numbers}
    for start in range(0, len(order_numbers), LINES_PER_QUERY):
        chunk = order_numbers[start:start + LINES_PER_QUERY]
        cursor.execute(f"SELECT {', '.join(LINE_COLUMNS)} FROM SOP_ITEM WHERE ORDER_NUMBER IN "
                       f"({', '.join('?' * len(chunk))}) AND (RECORD_DELETED = 0 OR RECORD_DELETED IS NULL) "
                       "ORDER BY ORDER_NUMBER, ITEM_NUMBER", *chunk)
        for row in cursor.fetchall():
            line = dict(zip(LINE_COLUMNS, row, strict=True))
            lines[line["ORDER_NUMBER"]].append(line)
    return lines


def _naive_utc(when: datetime) -> datetime:
    return when.astimezone(UTC).replace(tzinfo=None) if when.tzinfo else when


def export_despatches(connection: Any, output: Path, *, start: datetime, end: datetime,
                      statuses: set[str]) -> int:
    """Write the orders despatched (``statuses``) and modified in ``[start, end)`` to ``output``; return how many.

    Times are compared as Sage stores them (naive); ``start`` and ``end`` are UTC.
    """
    cursor = connection.cursor()
    try:
        cursor.execute(f"SELECT {', '.join(ORDER_COLUMNS)} FROM SALES_ORDER "
                       "WHERE (RECORD_DELETED = 0 OR RECORD_DELETED IS NULL) "
                       "AND RECORD_MODIFY_DATE >= ? AND RECORD_MODIFY_DATE < ? ORDER BY ORDER_NUMBER",
                       _naive_utc(start), _naive_utc(end))
        headers = [header for row in cursor.fetchall()
                   if ((header := dict(zip(ORDER_COLUMNS, row, strict=True)))["DESPATCH_STATUS"] or "").strip().upper()
                   in statuses]
        lines = _lines(cursor, [header["ORDER_NUMBER"] for header in headers])
        with zynk_document(output, "SalesOrders") as xf:
            for header in headers:
                xf.write(_order(header, lines[header["ORDER_NUMBER"]]), pretty_print=True)
    finally:
        cursor.close()
        connection.rollback()  # end the read transaction: it would block Sage's writers
    return len(headers)
