"""Zynk's rolling Download From: where the last successful orders run's window ended.

Each Download Orders run publishes the window it asked Amazon for (XCom key :data:`WINDOW_KEY`,
``{"lastUpdatedAfter", "lastUpdatedBefore"}``). When an orders run succeeds, the product's
listener moves the Airflow Variable :data:`VARIABLE` to that window's end with
:func:`advanced` (never backwards, so a backfill of old days leaves it alone), and the next
manual run without a window downloads from there. The Variable is in Admin → Variables: a
seller may set it, as Zynk's Download From could be edited, or delete it to start again from
``DOWNLOAD_FROM``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

WINDOW_KEY = "window"
VARIABLE = "amazon_sage_orders_last_window_end"
DESCRIPTION = ("Where the last successful amazon_orders_to_sage run's download window ended (UTC): a manual run "
               "without a window downloads from here. Zynk's rolling Download From; set it to move it.")


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def advanced(current: str | None, window: Mapping[str, Any] | None) -> str | None:
    """The Variable's new value after a successful run with ``window``; None when it stays as it is.

    A window of some of the connection's marketplaces only (``allMarketplaces`` false) leaves it: the
    others' orders of that window are still to download.
    """
    end = (window or {}).get("lastUpdatedBefore")
    if not end or (window or {}).get("allMarketplaces") is False:
        return None
    if current:
        try:
            if _instant(current) >= _instant(end):
                return None
        except ValueError:
            pass  # a value a person mistyped is replaced by a real window's end
    return str(end)
