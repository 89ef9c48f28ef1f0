"""Read and check one Zynk sales order, without Sage: what the import decides before it writes.

:func:`prepare_order` turns a ``SalesOrder`` element into a :class:`PreparedOrder`: the Sage
rows to write, the errors that fail it, or the status that keeps it out. It needs only the
company facts read at the start of the run, so it can run on a helper process
(:mod:`amazon_sage.core.sage.check_helpers`); a :class:`PreparedOrder` is therefore plain,
picklable data, with money already in the form Sage's columns take.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from amazon_sage.core.sage.order_reader import CancelledItem, RecordError, parse_sales_order
from amazon_sage.core.sage.order_rows import CompanyFacts, OrderRejected, SageOrderRows, build_rows, column_values
from amazon_sage.core.zynk_results import IMPORT_STAGE

UNREADABLE = "Pre-validation"  # the fail stage of a record that is not a readable order
WRITE, FAIL, NOT_IMPORTED = "write", "fail", "not imported"


@dataclass(slots=True)
class PreparedOrder:
    """One order, checked. Its ``kind`` says what comes next:

    * ``WRITE``: insert its ``rows``;
    * ``FAIL``: write it to the fail file with its ``errors`` at ``fail_stage``;
    * ``NOT_IMPORTED``: its ``status`` is not imported, so it was not checked further.
    """

    kind: str
    order_id: str
    customer_order_number: str = ""
    status: str = ""
    rows: SageOrderRows | None = None
    errors: list[str] | None = None
    fail_stage: str = IMPORT_STAGE
    cancellation_request: str = ""
    cancelled_items: tuple[CancelledItem, ...] = ()


def record_id(element: Any) -> str:
    """The Amazon order id of a ``SalesOrder`` element as read, or ``?``: names records in messages."""
    return (element.findtext("Id") or "?").strip() or "?"


def prepare_order(element: Any, facts: CompanyFacts, import_statuses: Collection[str],
                  unknown_sku_action: str) -> PreparedOrder:
    """Parse ``element`` and, when its status is imported, build and check its Sage rows."""
    try:
        order = parse_sales_order(element)
    except RecordError as exc:
        return PreparedOrder(FAIL, record_id(element), errors=[str(exc)], fail_stage=UNREADABLE)
    if order.status and order.status not in import_statuses:
        return PreparedOrder(NOT_IMPORTED, order.id, order.customer_order_number, order.status)
    try:
        rows = build_rows(order, facts, unknown_sku_action=unknown_sku_action)
    except OrderRejected as exc:
        return PreparedOrder(FAIL, order.id, order.customer_order_number, order.status, errors=exc.errors)
    rows.header = column_values(rows.header)
    rows.items = [column_values(item) for item in rows.items]
    return PreparedOrder(WRITE, order.id, order.customer_order_number, order.status, rows=rows,
                         cancellation_request=order.cancellation_request, cancelled_items=order.cancelled_items)
