"""Render Orders API v2026-01-01 JSON as ``amazon_orders.xml``, streamed page by page.

The rendering keeps Amazon's field names so mappings read like the API documentation:

* the root is ``<Orders>`` with one ``<Order>`` per order;
* a JSON object becomes an element whose children are its fields;
* a JSON array becomes one element per entry, each named after the field
  (``orderItems: [a, b]`` gives two ``<orderItems>`` elements);
* strings and numbers become text, booleans ``true``/``false``; nulls are left out.

The window that was asked for is recorded on the root as attributes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from lxml import etree

from amazon_sage.core.files import atomic_output


@dataclass
class DownloadCounts:
    pages: int = 0
    received: int = 0
    written: int = 0
    before_export_date: int = 0
    repeated: int = 0
    fba_not_shipped: int = 0
    statuses: dict[str, int] = field(default_factory=dict)


def _render(xf: Any, name: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, list):
        for entry in value:
            _render(xf, name, entry)
        return
    with xf.element(name):
        if isinstance(value, dict):
            for key, child in value.items():
                _render(xf, key, child)
        elif isinstance(value, bool):
            xf.write("true" if value else "false")
        else:
            xf.write(str(value))


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


FBA_KEPT_STATUSES = {"SHIPPED", "CANCELLED"}  # an FBA order is taken once shipped; a cancellation is still news


def write_orders_xml(pages: Iterable[dict[str, Any]], path: Path, *, window: dict[str, str],
                     export_date: datetime | None = None, fba_only_when_shipped: bool = False) -> DownloadCounts:
    """Write every order of ``pages`` to ``path`` and return the counts.

    Orders created before ``export_date`` (Zynk's Export Date) are left out. An order seen
    twice in one download (it changed while paging) is written once, at its first sighting.
    With ``fba_only_when_shipped``, orders Amazon fulfils (FBA) are left out until Amazon has
    shipped them: they need nothing from the seller, and their shipment updates them, so a
    later window takes them.
    """
    counts = DownloadCounts()
    seen: set[str] = set()
    with atomic_output(path) as tmp, etree.xmlfile(str(tmp), encoding="utf-8") as xf:
        xf.write_declaration()
        with xf.element("Orders", {key: value for key, value in window.items() if value}):
            for page in pages:
                counts.pages += 1
                for order in page["orders"]:
                    counts.received += 1
                    order_id = order["orderId"]
                    if order_id in seen:
                        counts.repeated += 1
                        continue
                    seen.add(order_id)
                    if export_date and _parse_time(order["createdTime"]) < export_date:
                        counts.before_export_date += 1
                        continue
                    fulfillment = order.get("fulfillment") or {}
                    status = fulfillment.get("fulfillmentStatus", "UNKNOWN")
                    if (fba_only_when_shipped and fulfillment.get("fulfilledBy") == "AMAZON"
                            and status not in FBA_KEPT_STATUSES):
                        counts.fba_not_shipped += 1
                        continue
                    counts.statuses[status] = counts.statuses.get(status, 0) + 1
                    _render(xf, "Order", order)
                    counts.written += 1
    return counts
