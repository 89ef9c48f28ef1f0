"""A run's asset events -> the orders to fetch with getOrder, and what was dropped or skipped.

Each asset event the queue watcher makes carries, in its extra, the SQS messages one receive took:
``{"from_trigger": true, "payload": {"status": "success", "message_batch": [<SQS message>, ...]}}`` (the
Amazon provider's ``SqsSensorTrigger``). :func:`collect` reads every message of every event once:

* an event or message that cannot be read, a notification that is not ORDER_CHANGE, breaks Amazon's schema,
  or names another seller or marketplace than the connection's, is **bad**: listed with its message id and
  the reason, and dropped;
* the same SQS message, or the same notification (Amazon's ``NotificationId``), seen again is a **duplicate**
  (SQS delivers at least once; a run may also see an event twice) and is dropped;
* several changes of one order make one order to fetch (getOrder returns it as it is now);
* an order whose notified status is not imported (``PENDING``: no prices yet) is **not imported** and not
  fetched, as the polling DAG skips it; it comes back with its next change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from amazon_sage.core.events.order_change import BadMessage, OrderChange, read_message


@dataclass
class CollectedEvents:
    """What a run's events hold: the orders to fetch (latest change per order id) and the rest, counted."""

    messages: int = 0
    orders: dict[str, OrderChange] = field(default_factory=dict)
    bad: list[BadMessage] = field(default_factory=list)
    duplicates: int = 0
    repeated_orders: int = 0
    not_imported: list[OrderChange] = field(default_factory=list)

    @property
    def order_ids(self) -> list[str]:
        return sorted(self.orders)


class AssetEvent(Protocol):
    id: int
    timestamp: datetime
    extra: Any


@dataclass(frozen=True)
class ReadMark:
    """How far the event DAG has read the asset's events: the last event's time and id.

    The scheduler gives a run the events up to the moment the first of them queued it, and leaves those that
    arrive while it creates the run to the next event, so a run reads the asset's events after the mark
    instead; each event is then read by one run, and a run that fails before it moves the mark leaves its
    events to the next run.
    """

    after: str  # ISO time: the events API returns events at or after it
    last_event_id: int

    def as_dict(self) -> dict[str, Any]:
        return {"after": self.after, "last_event_id": self.last_event_id}

    @classmethod
    def from_dict(cls, value: Any) -> ReadMark | None:
        if not isinstance(value, Mapping) or "after" not in value or "last_event_id" not in value:
            return None
        return cls(str(value["after"]), int(value["last_event_id"]))


def unread(events: Iterable[AssetEvent], mark: ReadMark | None) -> tuple[list[AssetEvent], ReadMark | None]:
    """The events after ``mark`` (by id: one timestamp may hold several), and the mark after them."""
    fresh = [event for event in events if mark is None or event.id > mark.last_event_id]
    if not fresh:
        return [], mark
    last = max(fresh, key=lambda event: event.id)
    return fresh, ReadMark(last.timestamp.isoformat(), last.id)


def messages_of(extra: Any) -> list[Any] | BadMessage:
    """The SQS messages in one asset event's extra, or a :class:`BadMessage` when the extra has none."""
    payload = extra.get("payload") if isinstance(extra, Mapping) else None
    batch = payload.get("message_batch") if isinstance(payload, Mapping) else None
    if not isinstance(batch, list):
        return BadMessage("?", "an asset event without an SQS message batch (not made by the queue watcher)")
    return batch


def collect(extras: Iterable[Any], *, seller_id: str, marketplace_id: str,
            imported_statuses: Iterable[str]) -> CollectedEvents:
    """Read the SQS messages of every asset event extra in ``extras`` (see the module's rules)."""
    wanted = {status.upper() for status in imported_statuses}
    result = CollectedEvents()
    seen_messages: set[str] = set()
    seen_notifications: set[str] = set()
    for extra in extras:
        batch = messages_of(extra)
        if isinstance(batch, BadMessage):
            result.bad.append(batch)
            continue
        for message in batch:
            result.messages += 1
            message_id = message.get("MessageId") if isinstance(message, Mapping) else None
            if message_id and message_id in seen_messages:
                result.duplicates += 1
                continue
            if message_id:
                seen_messages.add(message_id)
            change = read_message(message)
            if isinstance(change, BadMessage):
                result.bad.append(change)
                continue
            if change.notification_id in seen_notifications:
                result.duplicates += 1
                continue
            seen_notifications.add(change.notification_id)
            if change.seller_id != seller_id:
                result.bad.append(BadMessage(change.message_id, f"seller {change.seller_id!r} is not the "
                                                                f"connection's seller"))
            elif change.marketplace_id != marketplace_id:
                result.bad.append(BadMessage(change.message_id, f"marketplace {change.marketplace_id} is not the "
                                                                f"connection's ({marketplace_id})"))
            elif change.fulfillment_status not in wanted:
                result.not_imported.append(change)
            else:
                if change.order_id in result.orders:
                    result.repeated_orders += 1
                result.orders[change.order_id] = change
    return result
