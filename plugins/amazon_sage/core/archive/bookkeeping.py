"""What an archive's manifest keeps for the books: order ids, dates, SKUs, amounts and Sage numbers, no PII.

The manifest is stored in the clear beside the encrypted archive, so that archives can be listed,
searched and reconciled without a key. It therefore takes from the run's files only fields that
name no person: never a name, e-mail, phone, address line or message, whatever the files hold.

* ``orders``: each Zynk sales order of the import's success, skipped and fail files, with the
  file it is in, its Sage order number (success, and skipped duplicates), date, payment, and its
  lines and carriage (SKU, quantity, net, tax).
* ``order_dates``: each Amazon order's purchase date and, when it has shipped, its latest package
  ship time, read from the download. Buyer-data retention counts from these (ship date where known,
  else purchase date).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from amazon_sage.core.xml_files import XmlFileError, iterparse_xml_file

ZYNK_ORDER_FILES = {"zynk_orders_success.xml": "success", "zynk_orders_skipped.xml": "skipped",
                    "zynk_orders_fail.xml": "failed"}
AMAZON_ORDERS_FILE = "amazon_orders.xml"
LINE_FIELDS = {"Sku": "sku", "QtyOrdered": "qty", "TotalNet": "net", "TotalTax": "tax"}


def _text(element: Any, tag: str) -> str | None:
    child = element.find(tag)
    return child.text.strip() if child is not None and child.text and child.text.strip() else None


def _line(element: Any) -> dict[str, str | None]:
    return {key: _text(element, tag) for tag, key in LINE_FIELDS.items()}


def _zynk_orders(path: Path, outcome: str) -> list[dict[str, Any]]:
    orders = []
    for _, record in iterparse_xml_file(path, tag="SalesOrder"):
        orders.append({
            "order_id": _text(record, "CustomerOrderNumber") or _text(record, "Id"),
            "outcome": outcome,
            "sage_order_number": _text(record, "SalesOrderNumber"),
            "date": _text(record, "SalesOrderDate"),
            "paid": _text(record, "PaymentAmount"),
            "lines": [_line(item) for item in record.iterfind("SalesOrderItems/Item")],
            "carriage": {"net": _text(record, "Carriage/TotalNet"), "tax": _text(record, "Carriage/TotalTax")},
        })
        record.clear()
    return orders


def _order_dates(path: Path) -> dict[str, dict[str, str | None]]:
    dates: dict[str, dict[str, str | None]] = {}
    for _, order in iterparse_xml_file(path, tag="Order"):
        order_id = _text(order, "orderId")
        if order_id:
            shipped = sorted(t for t in (_text(p, "shipTime") for p in order.iterfind("packages")) if t)
            dates[order_id] = {"purchased": _text(order, "createdTime"), "shipped": shipped[-1] if shipped else None}
        order.clear()
    return dates


def bookkeeping(folder: Path) -> dict[str, Any]:
    """The manifest's ``orders`` and ``order_dates`` for the run folder (empty for a stock run).

    A file that is not well-formed adds nothing (it is archived as it is).
    """
    orders: list[dict[str, Any]] = []
    for name, outcome in ZYNK_ORDER_FILES.items():
        if (folder / name).is_file():
            try:
                orders += _zynk_orders(folder / name, outcome)
            except XmlFileError:
                continue
    dates: dict[str, dict[str, str | None]] = {}
    if (folder / AMAZON_ORDERS_FILE).is_file():
        try:
            dates = _order_dates(folder / AMAZON_ORDERS_FILE)
        except XmlFileError:
            dates = {}
    return {"orders": orders, "order_dates": dates}
