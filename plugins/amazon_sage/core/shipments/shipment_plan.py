"""What to confirm to Amazon for one Sage despatch: the units Sage has despatched that Amazon does not yet count.

Amazon's own state is the source of truth. ``getOrder`` (v2026-01-01, ``FULFILLMENT`` and
``PACKAGES``) says per order item how many units Amazon counts as shipped
(``fulfillment.quantityFulfilled``) and still unshipped (``quantityUnfulfilled``), and which
packages the order has. Sage says per line how many units it has despatched so far, in all
its despatches. The plan confirms, per SKU, Sage's despatched units minus Amazon's shipped
units, spread over the Amazon items of that SKU within what each still has unshipped. So the
same despatch planned twice, or after a crash, a lost answer or a rerun of any window, plans
nothing the second time; a part despatch plans its units and the despatch of the rest plans the rest.

Orders Amazon fulfils (FBA), cancelled orders and orders Amazon shows as shipped are skipped
with the reason. A plan never guesses: an item whose shipped quantity Amazon does not state
fails the record instead of being confirmed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

AMAZON_ORDER_ID = re.compile(r"\d{3}-\d{7}-\d{7}")
INCLUDED_DATA = ["FULFILLMENT", "PACKAGES"]
NOT_READY = {"PENDING", "PENDING_AVAILABILITY", "UNFULFILLABLE"}


@dataclass(frozen=True)
class Planned:
    """The package to confirm: ``items`` as confirmShipment's ``orderItems`` (orderItemId, quantity)."""

    package_reference_id: str
    items: list[dict[str, Any]]
    skus: dict[str, str]  # orderItemId -> SKU, for the success file
    warnings: list[str] = field(default_factory=list)

    @property
    def units(self) -> int:
        return sum(item["quantity"] for item in self.items)


@dataclass(frozen=True)
class Decided:
    """Nothing to confirm: ``kind`` is ``skip`` (nothing is wrong) or ``fail`` (a person must look), and why."""

    kind: str
    reason: str


def amazon_order_problem(order_id: str) -> str | None:
    """Why ``order_id`` (Sage's CUST_ORDER_NUMBER) is not an Amazon order id, or None when it is one."""
    if not order_id:
        return "not an Amazon order: the Sage order has no customer order number"
    if not AMAZON_ORDER_ID.fullmatch(order_id):
        return f"not an Amazon order: customer order number {order_id!r} is not an Amazon order id (3-7-7 digits)"
    return None


def whole_units(sku: str, text: str) -> int:
    """Sage's despatched quantity of a line (a double written as a decimal) in whole units; ValueError otherwise."""
    try:
        value = Decimal(text or "0")
    except InvalidOperation:
        raise ValueError(f"SKU {sku}: despatched quantity {text!r} is not a number") from None
    if value != value.to_integral_value() or value < 0:
        raise ValueError(f"SKU {sku}: Sage shows {text} despatched; Amazon takes whole units only")
    return int(value)


def next_package_reference(order: dict[str, Any]) -> str:
    """One more than the highest numeric ``packageReferenceId`` on the order (Amazon wants positive numbers)."""
    used = [int(p["packageReferenceId"]) for p in order.get("packages") or []
            if str(p.get("packageReferenceId", "")).isdigit()]
    return str(max(used, default=0) + 1)


def _shipped(item: dict[str, Any]) -> tuple[int, int] | None:
    """(units Amazon counts as shipped, units still unshipped) of an item, or None when Amazon does not say."""
    fulfillment = item.get("fulfillment")
    if not isinstance(fulfillment, dict) or "quantityFulfilled" not in fulfillment:
        return None
    done = int(fulfillment["quantityFulfilled"])
    left = int(fulfillment.get("quantityUnfulfilled", int(item["quantityOrdered"]) - done))
    return done, left


def _order_decision(order: dict[str, Any]) -> Decided | None:
    fulfillment = order.get("fulfillment") or {}
    status = fulfillment.get("fulfillmentStatus")
    if fulfillment.get("fulfilledBy") == "AMAZON":
        return Decided("skip", "fulfilled by Amazon (FBA): Amazon ships it, so there is nothing to confirm")
    if status == "CANCELLED":
        return Decided("skip", "cancelled on Amazon: nothing is confirmed for it")
    if status == "SHIPPED":
        return Decided("skip", "Amazon already shows the order as shipped: nothing left to confirm")
    if status in NOT_READY or status is None:
        return Decided("fail", f"Amazon shows the order as {status or 'without a status'}: a shipment cannot be "
                               "confirmed for it yet")
    return None


def plan_shipment(despatched: dict[str, int], order: dict[str, Any]) -> Planned | Decided:
    """The package for the units of ``despatched`` (SKU -> units Sage despatched so far) Amazon has not shipped."""
    decided = _order_decision(order)
    if decided is not None:
        return decided
    by_sku: dict[str, list[dict[str, Any]]] = {}
    for item in order.get("orderItems") or []:
        by_sku.setdefault(str((item.get("product") or {}).get("sellerSku") or ""), []).append(item)
    items: list[dict[str, Any]] = []
    skus: dict[str, str] = {}
    warnings: list[str] = []
    matched = False
    for sku, units in despatched.items():
        amazon_items = by_sku.get(sku)
        if not amazon_items:
            warnings.append(f"SKU {sku} ({units} despatched in Sage) is not on the Amazon order: not confirmed")
            continue
        matched = True
        states = [_shipped(item) for item in amazon_items]
        if any(state is None for state in states):
            return Decided("fail", f"Amazon does not say how many units of SKU {sku} it counts as shipped; nothing "
                                   "was confirmed, so no unit can go twice")
        remaining = units - sum(done for done, _ in states)  # type: ignore[misc]
        for item, (_, left) in zip(amazon_items, states, strict=True):  # type: ignore[misc]
            take = min(left, remaining)
            if take > 0:
                items.append({"orderItemId": item["orderItemId"], "quantity": take})
                skus[item["orderItemId"]] = sku
                remaining -= take
        if remaining > 0:
            warnings.append(f"SKU {sku}: Sage despatched {units}, more than Amazon has left to ship; "
                            f"{remaining} not confirmed")
    if not matched:
        return Decided("fail", "none of the despatched SKUs ("
                               + ", ".join(despatched) + ") is on the Amazon order" if despatched else
                       "the Sage order has no despatched lines")
    if not items:
        shipped = ", ".join(f"{sku} {units}" for sku, units in despatched.items() if sku in by_sku)
        return Decided("skip", f"Amazon already counts every despatched unit as shipped ({shipped}): nothing left "
                               "to confirm")
    return Planned(next_package_reference(order), items, skus, warnings)


def package_shows(order: dict[str, Any] | None, planned: Planned) -> bool:
    """Whether Amazon's ``order`` holds ``planned``'s package (after an answer was lost or a worker killed)."""
    if order is None:
        return False
    for package in order.get("packages") or []:
        if str(package.get("packageReferenceId")) == planned.package_reference_id:
            return True
    return False
