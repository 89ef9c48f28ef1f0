"""Deterministic, realistic UK Amazon orders in the Orders API v2026-01-01 shape.

``generate_orders(count, start, days)`` returns order *versions*: each is an order as
Amazon would return it at its ``lastUpdatedTime``. Most orders have one version; the
"updated twice" order has two, on different days. The same arguments always give the same
orders. The first orders cover the awkward cases on purpose:

0 company buyer with a purchase order number     4 updated twice (UNSHIPPED, then SHIPPED next day)
1 unicode names, address lines over 60 chars    5 contains the SKU the sample company lacks
2 PENDING: no prices, no address                 6 item and shipping promotions
3 CANCELLED                                      7+ random: 1-4 lines, quantities 1-3, shipping
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sandbox.catalogue import BY_SKU, CATALOGUE, UNKNOWN_TO_SAGE

UK_MARKETPLACE = "A1F83G8C2ARO7P"
# Other marketplaces of the EU region: (id, name, currency, price per £1 of the UK price, place, email domain).
MARKETPLACES = {
    "UK": (UK_MARKETPLACE, "Amazon.co.uk", "GBP", Decimal(1), None, "marketplace.amazon.co.uk"),
    "DE": ("A1PA6795UKMFR9", "Amazon.de", "EUR", Decimal("1.17"), ("Berlin", "", "10115", "DE"),
           "marketplace.amazon.de"),
    "FR": ("A13V1IB3VIYZZH", "Amazon.fr", "EUR", Decimal("1.17"), ("Paris", "", "75001", "FR"),
           "marketplace.amazon.fr"),
    "SE": ("A2NODRKZP88ZB9", "Amazon.se", "SEK", Decimal("13.25"), ("Stockholm", "", "111 22", "SE"),
           "marketplace.amazon.se"),
    "PL": ("A1C3SOZRARQ6R3", "Amazon.pl", "PLN", Decimal("5.00"), ("Warszawa", "", "00-001", "PL"),
           "marketplace.amazon.pl"),
}
FIRST_NAMES = ["Oliver", "Amelia", "Harry", "Isla", "George", "Ava", "Noah", "Mia", "Siobhán", "Dafydd", "Zoë",
               "Eilidh", "Ruairí", "Aoife", "Łukasz", "Anaïs", "José"]
SURNAMES = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "O'Brien", "Ní Bhriain", "Müller",
            "Nowak", "Hughes", "MacLeod", "Ó Súilleabháin"]
PLACES = [("Leeds", "West Yorkshire", "LS1 4AB"), ("Bristol", "", "BS1 5TR"),
          ("Cardiff", "South Glamorgan", "CF10 1EP"),
          ("Edinburgh", "Midlothian", "EH1 1YZ"), ("Newcastle upon Tyne", "Tyne and Wear", "NE2 1AA"),
          ("Belfast", "County Antrim", "BT1 5GS"), ("Manchester", "Greater Manchester", "M1 1AE"),
          ("Norwich", "Norfolk", "NR2 1NH"), ("Inverness", "Highland", "IV1 1QT")]
STREETS = ["High Street", "Station Road", "Church Lane", "Victoria Road", "Mill Lane", "Queen's Drive"]
SHIPPING = [Decimal("0.00"), Decimal("2.99"), Decimal("3.99"), Decimal("4.49")]
LEVELS = ["STANDARD", "EXPEDITED", "NEXT_DAY", "FREE_ECONOMY"]


def _money(amount: Decimal, currency: str = "GBP") -> dict[str, str]:
    return {"amount": f"{amount:.2f}", "currencyCode": currency}


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _order_id(rng: random.Random) -> str:
    return f"202-{rng.randrange(10**6, 10**7)}-{rng.randrange(10**6, 10**7)}"


def _address(rng: random.Random, name: str, *, long_lines: bool = False, company: str = "") -> dict[str, Any]:
    town, county, postcode = rng.choice(PLACES)
    line1 = f"{rng.randrange(1, 180)} {rng.choice(STREETS)}"
    address: dict[str, Any] = {"name": name, "addressLine1": line1, "city": town, "postalCode": postcode,
                               "countryCode": "GB", "addressType": "COMMERCIAL" if company else "RESIDENTIAL",
                               "phone": f"+44 7{rng.randrange(100, 999)} {rng.randrange(100000, 999999)}"}
    if county:
        address["stateOrRegion"] = county
    if company:
        address["companyName"] = company
    if long_lines:
        address["addressLine1"] = ("Flat 14b, The Old Tannery Buildings, Castle Quay Wharf Development, "
                                   "Riverside Entrance C")
        address["addressLine2"] = "Unit 7, Ffordd Pen-y-Bryn Industrial Estate (rear of the Co-operative)"
        address["addressLine3"] = "Llanfairpwllgwyngyll Business Park East"
    elif rng.random() < 0.3:
        address["addressLine2"] = f"Flat {rng.randrange(1, 30)}"
    return address


def _item(rng: random.Random, item_id: str, sku: str, quantity: int, shipping: Decimal,
          item_discount: Decimal = Decimal(0), shipping_discount: Decimal = Decimal(0),
          promotion: str = "", priced: bool = True, currency: str = "GBP", factor: Decimal = Decimal(1),
          facilitated: bool = False) -> dict[str, Any]:
    product = BY_SKU[sku]
    price = (product.price * factor).quantize(Decimal("0.01"))
    shipping, item_discount, shipping_discount = ((amount * factor).quantize(Decimal("0.01"))
                                                  for amount in (shipping, item_discount, shipping_discount))

    def _money(amount: Decimal) -> dict[str, str]:
        return _currency_money(amount, currency)

    item: dict[str, Any] = {"orderItemId": item_id, "quantityOrdered": quantity,
                            "product": {"asin": product.asin, "sellerSku": sku, "title": product.title,
                                        "condition": {"conditionType": "NEW"}}}
    if not priced:
        return item
    item["product"]["price"] = {"unitPrice": _money(price)}
    line = price * quantity
    if facilitated:
        # Amazon collects the 20% VAT as marketplace facilitator: the buyer pays the price, the seller's proceeds
        # are the price before Amazon's tax.
        line, shipping = ((amount * 100 / 120).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
                          for amount in (line, shipping))
        item["tax"] = {"taxCollections": [{"model": "MARKETPLACE_FACILITATOR",
                                           "responsibleParty": "Amazon Services Europe S.a.r.L."}]}
    breakdowns: list[dict[str, Any]] = [{"type": "ITEM", "subtotal": _money(line)}]
    if shipping:
        breakdowns.append({"type": "SHIPPING", "subtotal": _money(shipping)})
    if item_discount or shipping_discount:
        detailed = []
        if item_discount:
            detailed.append({"subtype": "ITEM", "value": _money(-item_discount)})
        if shipping_discount:
            detailed.append({"subtype": "SHIPPING", "value": _money(-shipping_discount)})
        breakdowns.append({"type": "DISCOUNT", "subtotal": _money(-(item_discount + shipping_discount)),
                           "detailedBreakdowns": detailed})
    total = line + shipping - item_discount - shipping_discount
    item["proceeds"] = {"proceedsTotal": _money(total), "breakdowns": breakdowns}
    item["fulfillment"] = {"quantityFulfilled": 0, "quantityUnfulfilled": quantity}
    if promotion:
        item["promotion"] = {"breakdowns": [{"promotionId": promotion}]}
    return item


_currency_money = _money


def _order_proceeds(items: list[dict[str, Any]]) -> dict[str, Any]:
    totals: dict[str, Decimal] = {}
    for item in items:
        for breakdown in item["proceeds"]["breakdowns"]:
            amount = Decimal(breakdown["subtotal"]["amount"])
            totals[breakdown["type"]] = totals.get(breakdown["type"], Decimal(0)) + amount
    grand = sum((Decimal(item["proceeds"]["proceedsTotal"]["amount"]) for item in items), Decimal(0))
    currency = items[0]["proceeds"]["proceedsTotal"]["currencyCode"]
    return {"grandTotal": _money(grand, currency),
            "breakdowns": [{"type": kind, "subtotal": _money(amount, currency)} for kind, amount in totals.items()]}


def _build(rng: random.Random, index: int, created: datetime, market: str = "UK",
           fulfilled_by: str = "MERCHANT", facilitated: bool = False) -> list[dict[str, Any]]:
    marketplace_id, marketplace_name, currency, factor, place, email_domain = MARKETPLACES[market]
    order_id = _order_id(rng)
    name = f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}"
    status = rng.choice(["SHIPPED", "SHIPPED", "UNSHIPPED", "PARTIALLY_SHIPPED"])
    company = ""
    long_lines = False
    priced = True
    in_sage = [p.sku for p in CATALOGUE if p.in_sage and p.on_amazon]
    skus = rng.sample(in_sage, rng.randint(1, 4))
    quantities = [rng.randint(1, 3) for _ in skus]
    shipping = rng.choice(SHIPPING)
    discounts: dict[int, tuple[Decimal, Decimal, str]] = {}
    if index == 0:
        company = "Brew & Co. Ltd"
    elif index == 1:
        name, long_lines = "Zoë Ní Bhriain-Łukasiewicz 山田", True
    elif index == 2:
        status, priced = "PENDING", False
    elif index == 3:
        status = "CANCELLED"
    elif index == 4:
        status = "UNSHIPPED"
    elif index == 5:
        skus[0] = UNKNOWN_TO_SAGE[0]
    elif index == 6:
        skus, quantities, shipping = ["TEAPOT-CAST-1L", "INFUSER-STEEL"], [1, 3], Decimal("3.99")
        discounts[0] = (Decimal("5.00"), Decimal("3.99"), "PROMO-AUTUMN-5OFF")
    items = []
    for n, (sku, quantity) in enumerate(zip(skus, quantities, strict=True)):
        item_discount, shipping_discount, promotion = discounts.get(n, (Decimal(0), Decimal(0), ""))
        items.append(_item(rng, f"{order_id[4:11]}{n:07d}", sku, quantity, shipping if n == 0 else Decimal(0),
                           item_discount, shipping_discount, promotion, priced, currency, factor, facilitated))
    updated = created + timedelta(minutes=rng.randint(5, 240))
    order: dict[str, Any] = {
        "orderId": order_id,
        "createdTime": _iso(created),
        "lastUpdatedTime": _iso(updated),
        "salesChannel": {"channelName": "AMAZON", "marketplaceId": marketplace_id,
                         "marketplaceName": marketplace_name},
        "fulfillment": {"fulfillmentStatus": status, "fulfilledBy": fulfilled_by,
                        "fulfillmentServiceLevel": rng.choice(LEVELS)},
        "orderItems": items,
    }
    if company:
        order["programs"] = ["AMAZON_BUSINESS"]
    if priced:
        order["buyer"] = {"buyerName": name, "buyerEmail": f"{rng.randrange(10**9):09x}@{email_domain}"}
        if company:
            order["buyer"].update(buyerCompanyName=company, buyerPurchaseOrderNumber=f"PO-{rng.randrange(10**5)}")
        order["recipient"] = {"deliveryAddress": _address(rng, name, long_lines=long_lines, company=company)}
        if place is not None:  # the same draws as a UK address, so UK orders stay as they were
            town, _, postcode, country = place
            order["recipient"]["deliveryAddress"].update(city=town, postalCode=postcode, countryCode=country)
            order["recipient"]["deliveryAddress"].pop("stateOrRegion", None)
        order["proceeds"] = _order_proceeds(items)
    if status == "CANCELLED":
        for item in items:
            item["cancellation"] = {"cancellationRequest": {"requester": "BUYER", "cancelReason": "NO_LONGER_NEEDED"}}
    versions = [order]
    if index == 4:
        later = _clone(order)
        later["lastUpdatedTime"] = _iso(updated + timedelta(days=1, hours=2))
        later["fulfillment"]["fulfillmentStatus"] = "SHIPPED"
        for item in later["orderItems"]:
            item["fulfillment"] = {"quantityFulfilled": item["quantityOrdered"], "quantityUnfulfilled": 0}
        versions.append(later)
    return versions


def _clone(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _clone(child) for key, child in value.items()}
    if isinstance(value, list):
        return [_clone(child) for child in value]
    return value


def cancel_items(order: dict[str, Any], skus: set[str], when: datetime, *, cancelled_by: str = "BUYER",
                 reason: str = "NO_LONGER_NEEDED") -> dict[str, Any]:
    """A later version of ``order`` in which Amazon has cancelled its items of ``skus``, the order going on.

    Each such item carries ``cancellation.cancellationExecution`` (the Orders v2026 model's item-level
    cancellation); the order's proceeds then count only the items that remain, as the buyer is charged.
    """
    later = _clone(order)
    later["lastUpdatedTime"] = _iso(when)
    for item in later["orderItems"]:
        if item["product"]["sellerSku"] in skus:
            item["cancellation"] = {"cancellationExecution": {"cancelledBy": cancelled_by, "cancelReason": reason}}
    remaining = [item for item in later["orderItems"] if "cancellationExecution" not in item.get("cancellation", {})]
    if "proceeds" in later and remaining:
        later["proceeds"] = _order_proceeds(remaining)
    return later


def generate_orders(count: int, start: datetime, days: float = 3.0, seed: int = 20261126,
                    marketplaces: Sequence[str] = ("UK",), fba_every: int = 0,
                    facilitator_every: int = 0) -> list[dict[str, Any]]:
    """``count`` orders created evenly over ``days`` from ``start`` (UTC), as versions.

    With several ``marketplaces`` (codes of :data:`MARKETPLACES`), the orders after the first eight
    (the awkward cases, all UK) are spread over them in turn, priced in each one's currency; the
    orders' other draws are the same, so a UK order is the same order whatever the list. With
    ``fba_every`` N, every Nth of those orders is fulfilled by Amazon (FBA); with ``facilitator_every``
    N, Amazon collects the VAT of every Nth as marketplace facilitator (UK orders only).
    """
    rng = random.Random(seed)
    step = timedelta(days=days) / max(count, 1)
    versions: list[dict[str, Any]] = []
    for index in range(count):
        created = start + step * index + timedelta(seconds=rng.randint(0, 59))
        market = "UK" if index < 8 else marketplaces[index % len(marketplaces)]
        fba = index >= 8 and fba_every > 0 and index % fba_every == 0
        facilitated = market == "UK" and index >= 8 and facilitator_every > 0 and index % facilitator_every == 0
        versions.extend(_build(rng, index, created, market, "AMAZON" if fba else "MERCHANT", facilitated))
    return versions
