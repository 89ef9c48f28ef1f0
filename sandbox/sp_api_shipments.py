"""Orders: ``getOrder`` (v2026-01-01) and ``confirmShipment`` (v0) in the SP-API sandbox, as Amazon's models say.

* ``getOrder`` checks ``includedData`` against ``orders_2026-01-01.json`` and validates each answer
  against its ``GetOrderResponse`` schema; an unknown order is 404 with Amazon's ``errors`` body.
* ``confirmShipment`` validates the body against ``ordersV0.json``'s ``ConfirmShipmentRequest``
  and refuses what Amazon refuses (400, ``errors`` body): another marketplace, an order Amazon
  fulfils (FBA), a shipped, cancelled or pending order, ``carrierCode`` Other without ``carrierName``, a
  ``packageReferenceId`` that is not a positive number or is already used on the order, a ship
  date that is not ISO 8601, an item of another order, and **a quantity above what is still
  unshipped**: a second confirmation of units already confirmed is refused.
* A confirmation takes effect as on Amazon: a new version of the order with each item's
  ``fulfillment.quantityFulfilled`` / ``quantityUnfulfilled`` moved on, the order
  ``PARTIALLY_SHIPPED`` or ``SHIPPED``, and the package in ``packages`` (carrier, tracking number,
  ship time, items); the new version is checked against the model's ``Order`` schema. The answer
  is 204 without a body. ``confirmations`` lists every accepted package, for tests and the demo.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema

GET_ORDER_PREFIX = "/orders/2026-01-01/orders/"
CONFIRM_SUFFIX = "/shipmentConfirmation"
CONFIRM_PREFIX = "/orders/v0/orders/"
SHIPMENT_LIMITS = {"confirmShipment": (2.0, 10)}  # ordersV0.json's usage plan for confirmShipment


class ShipmentError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _invalid(message: str) -> ShipmentError:
    return ShipmentError(400, "InvalidInput", message)


def _iso_now(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _clone(value: Any) -> Any:
    return json.loads(json.dumps(value))


class ShipmentsSandbox:
    """Mixin of :class:`sandbox.sp_api_server.Sandbox`: needs its ``state``, ``model`` and ``_shape``."""

    state: Any
    model: Any

    def init_shipments(self, models: Path) -> None:
        v2026 = json.loads((models / "orders_2026-01-01.json").read_text())
        v0 = json.loads((models / "ordersV0.json").read_text())
        parameters = v2026["paths"]["/orders/2026-01-01/orders/{orderId}"]["get"]["parameters"]
        self.get_order_datasets = set(next(p for p in parameters if p["name"] == "includedData")["items"]["enum"])
        self.get_order_validator = jsonschema.Draft4Validator(
            {"$ref": "#/definitions/GetOrderResponse", "definitions": v2026["definitions"]})
        self.confirm_validator = jsonschema.Draft4Validator(
            {"$ref": "#/definitions/ConfirmShipmentRequest", "definitions": v0["definitions"]})
        self.confirmations: list[dict[str, Any]] = []

    def _current_order(self, order_id: str) -> dict[str, Any] | None:
        now = _iso_now(self.state.now())
        past = [v for v in self.state.versions.get(order_id, []) if v["lastUpdatedTime"] <= now]
        return past[-1] if past else None

    def get_order(self, order_id: str, query: dict[str, list[str]], tolerated: set[str]) -> dict[str, Any]:
        unknown = set(query) - {"includedData"} - tolerated
        if unknown:
            raise _invalid(f"Unknown parameter(s): {', '.join(sorted(unknown))}")
        included = {part for raw in query.get("includedData", []) for part in raw.split(",") if part}
        bad = included - self.get_order_datasets
        if bad:
            raise _invalid(f"Invalid value(s) for includedData: {', '.join(sorted(bad))}. "
                           f"Allowed: {', '.join(sorted(self.get_order_datasets))}.")
        order = self._current_order(order_id)
        if order is None:
            raise ShipmentError(404, "NotFound", f"Order {order_id} was not found.")
        body = {"order": self._shape(order, included)}  # type: ignore[attr-defined]
        error = next(iter(self.get_order_validator.iter_errors(body)), None)
        if error is not None:
            raise ShipmentError(500, "InternalFailure", f"Sandbox answer breaks the model: {error.message} "
                                                        f"at {list(error.path)}")
        return body

    def confirm_shipment(self, order_id: str, body: dict[str, Any]) -> None:
        error = next(iter(sorted(self.confirm_validator.iter_errors(body), key=lambda e: list(e.path))), None)
        if error is not None:
            raise _invalid(f"Invalid Input: {error.message} at {'/'.join(map(str, error.path)) or 'body'}")
        order = self._current_order(order_id)
        if order is None:
            raise ShipmentError(404, "NotFound", f"Order {order_id} was not found.")
        package = body["packageDetail"]
        self._check_shippable(order, body["marketplaceId"])
        self._check_package(order, package)
        quantities = self._check_items(order, package["orderItems"])
        self._ship(order, package, quantities)

    @staticmethod
    def _check_shippable(order: dict[str, Any], marketplace_id: str) -> None:
        if marketplace_id != order["salesChannel"]["marketplaceId"]:
            raise _invalid(f"Order {order['orderId']} is not an order of marketplace {marketplace_id}.")
        fulfillment = order.get("fulfillment", {})
        if fulfillment.get("fulfilledBy") == "AMAZON":
            raise _invalid(f"Order {order['orderId']} is fulfilled by Amazon; its shipments cannot be confirmed.")
        status = fulfillment.get("fulfillmentStatus")
        if status in {"SHIPPED", "CANCELLED", "PENDING", "PENDING_AVAILABILITY", "UNFULFILLABLE"}:
            # SHIPPED as well: the generator's shipped orders do not all count their items as fulfilled.
            raise _invalid(f"Order {order['orderId']} is {status}; a shipment cannot be confirmed for it.")

    @staticmethod
    def _check_package(order: dict[str, Any], package: dict[str, Any]) -> None:
        if package["carrierCode"] == "Other" and not str(package.get("carrierName") or "").strip():
            raise _invalid("carrierName is required when carrierCode is Other.")
        reference = package["packageReferenceId"]
        if not reference.isdigit() or int(reference) < 1:
            raise _invalid(f"packageReferenceId {reference!r}: only positive numeric values are supported.")
        if any(p["packageReferenceId"] == reference for p in order.get("packages", [])):
            raise _invalid(f"packageReferenceId {reference} is already used by a package of order "
                           f"{order['orderId']}.")
        ship_date = package["shipDate"]
        try:
            if "T" not in ship_date:
                raise ValueError(ship_date)
            datetime.fromisoformat(ship_date.replace("Z", "+00:00"))
        except ValueError:
            raise _invalid(f"Invalid Input: shipDate {ship_date!r} is not an ISO 8601 date-time.") from None
        if not str(package["trackingNumber"]).strip():
            raise _invalid("trackingNumber must not be empty.")

    @staticmethod
    def _check_items(order: dict[str, Any], lines: list[dict[str, Any]]) -> dict[str, int]:
        if not lines:
            raise _invalid("orderItems must list at least one order item.")
        items = {item["orderItemId"]: item for item in order["orderItems"]}
        quantities: dict[str, int] = {}
        for line in lines:
            if line["orderItemId"] not in items:
                raise _invalid(f"Order item {line['orderItemId']} is not an item of order {order['orderId']}.")
            if line["quantity"] < 1:
                raise _invalid(f"The quantity of order item {line['orderItemId']} must be at least 1.")
            quantities[line["orderItemId"]] = quantities.get(line["orderItemId"], 0) + line["quantity"]
        for item_id, quantity in quantities.items():
            fulfillment = items[item_id].get("fulfillment") or {}
            left = fulfillment.get("quantityUnfulfilled", items[item_id]["quantityOrdered"])
            if quantity > left:
                raise _invalid(f"The quantity {quantity} of order item {item_id} is more than its {left} "
                               "unshipped unit(s): those units are already confirmed as shipped.")
        return quantities

    def _ship(self, order: dict[str, Any], package: dict[str, Any], quantities: dict[str, int]) -> None:
        now = _iso_now(self.state.now())
        shipped = _clone(order)
        shipped["lastUpdatedTime"] = max(now, order["lastUpdatedTime"])
        for item in shipped["orderItems"]:
            done = item.get("fulfillment", {}).get("quantityFulfilled", 0) + quantities.get(item["orderItemId"], 0)
            item["fulfillment"] = {**item.get("fulfillment", {}), "quantityFulfilled": done,
                                   "quantityUnfulfilled": item["quantityOrdered"] - done}
        complete = all(item["fulfillment"]["quantityUnfulfilled"] == 0 for item in shipped["orderItems"])
        shipped["fulfillment"]["fulfillmentStatus"] = "SHIPPED" if complete else "PARTIALLY_SHIPPED"
        record = {"packageReferenceId": package["packageReferenceId"], "createdTime": now,
                  "packageStatus": {"status": "SHIPPED"},
                  "carrier": package.get("carrierName") or package["carrierCode"],
                  "shipTime": package["shipDate"], "trackingNumber": package["trackingNumber"],
                  "packageItems": [{"orderItemId": k, "quantity": v} for k, v in quantities.items()]}
        if package.get("shippingMethod"):
            record["shippingService"] = package["shippingMethod"]
        shipped["packages"] = [*shipped.get("packages", []), record]
        error = next(iter(self.model.order_validator.iter_errors(shipped)), None)
        if error is not None:
            raise ShipmentError(500, "InternalFailure", f"Sandbox order breaks the model: {error.message}")
        self.state.add_versions([shipped])  # sorted by lastUpdatedTime: the newest version is what Amazon shows
        self.confirmations.append({"orderId": order["orderId"], "items": dict(quantities), "at": now,
                                   **{key: package[key] for key in ("packageReferenceId", "carrierCode",
                                                                    "trackingNumber", "shipDate")},
                                   **{key: package[key] for key in ("carrierName", "shippingMethod",
                                                                    "shipFromSupplySourceId") if key in package}})

    def confirmed_quantities(self, order_id: str) -> dict[str, int]:
        """``orderItemId -> units`` confirmed so far for ``order_id``, summed over its accepted packages."""
        totals: dict[str, int] = {}
        for confirmation in self.confirmations:
            if confirmation["orderId"] == order_id:
                for item_id, quantity in confirmation["items"].items():
                    totals[item_id] = totals.get(item_id, 0) + quantity
        return totals
