"""Confirm Shipments: mapped Sage despatches -> Amazon ``confirmShipment``, exactly once per despatched unit.

For each ``Shipment`` record (one Sage order), in order:

1. an order whose customer order number is not an Amazon order id is skipped, with the reason;
2. ``getOrder`` reads what Amazon counts as shipped, and :func:`plan_shipment` plans the units
   Sage has despatched beyond that (FBA, cancelled and shipped orders are skipped);
3. the intent (order, package number, items) is appended to the run folder's journal, then
   ``confirmShipment`` sends the package: carrier, tracking number, ship date and the items with
   their quantities.

Exactly once is checked in Amazon itself: every try starts from ``getOrder``, so a retry, a
rerun of any window or an overlapping window confirms nothing Amazon already counts. The call
itself is never repeated blindly: when its answer is lost (5xx, timeout, dropped connection),
``getOrder`` is read again; if the package is there it is confirmed, otherwise the record fails
as *unsettled* and the task fails, so that Airflow's retry reads Amazon again before anything
is sent. A worker killed after Amazon took the package but before the files were written leaves
its intent in the journal; the retry finds the package on Amazon and reports it as confirmed.
Amazon itself refuses a quantity above what is unshipped (as the sandbox does), which is the
last guard.

The files: ``amazon_shipments_success.xml`` (each record with the ``confirmation`` sent),
``amazon_shipments_fail.xml`` (with Amazon's message in ``Errors``), ``amazon_shipments_skipped.xml``
(with the reason in ``Warnings``).
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from lxml import etree

from amazon_sage.core.counts import PhaseCounts
from amazon_sage.core.files import append_private
from amazon_sage.core.orders.download_window import to_iso
from amazon_sage.core.shipments.shipment_plan import (
    INCLUDED_DATA,
    Decided,
    Planned,
    amazon_order_problem,
    package_shows,
    plan_shipment,
    whole_units,
)
from amazon_sage.core.sp_api.rate_limited_calls import SpApiOutcomeUnknown
from amazon_sage.core.xml_files import check_well_formed, iterparse_xml_file
from amazon_sage.core.zynk_results import RecordFiles

log = logging.getLogger(__name__)

STAGE = "Confirm Shipments"
RECORD = "Shipment"
JOURNAL = ".shipments_journal.tsv"
FILES = {"success": "amazon_shipments_success.xml", "fail": "amazon_shipments_fail.xml",
         "skipped": "amazon_shipments_skipped.xml"}
OPTIONAL_FIELDS = ("carrierName", "shippingMethod", "shipFromSupplySourceId")


class ShipmentRefused(Exception):
    """Amazon refused a confirmation (400 and the like); the message is Amazon's."""


class AmazonShipments(Protocol):
    """What confirming needs from Amazon (``SellingPartnerHook`` provides it)."""

    def get_order(self, order_id: str, included_data: list[str]) -> dict[str, Any] | None:
        """getOrder v2026-01-01; None when Amazon does not know the order."""

    def confirm_shipment(self, order_id: str, package_detail: dict[str, Any],
                         marketplace_id: str | None = None) -> None:
        """confirmShipment in the order's marketplace; :class:`ShipmentRefused` on a refusal, ``SpApiOutcomeUnknown``
        on a lost answer."""


@dataclass
class ConfirmResult:
    success_file: Path
    fail_file: Path
    skipped_file: Path
    records: int = 0
    confirmed: int = 0
    units: int = 0
    skipped: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    unsettled: list[str] = field(default_factory=list)
    confirmations: list[dict[str, Any]] = field(default_factory=list)

    def counts(self) -> PhaseCounts:
        return PhaseCounts(self.records, self.confirmed, len(self.failures), self.skipped,
                           details={"units": self.units, "unsettled": len(self.unsettled)})


def _text(record: etree._Element, tag: str) -> str:
    return (record.findtext(tag) or "").strip()


def _despatched(record: etree._Element) -> dict[str, int]:
    """SKU -> units Sage has despatched so far (lines of one SKU added up)."""
    totals: dict[str, int] = {}
    for item in record.iterfind("items/item"):
        sku = _text(item, "sku")
        totals[sku] = totals.get(sku, 0) + whole_units(sku, _text(item, "quantityDespatched"))
    return totals


def _package_problem(record: etree._Element) -> str | None:
    if not _text(record, "trackingNumber"):
        return "Sage has no consignment (tracking) number for this despatch; Amazon needs one: set it in Sage"
    if _text(record, "carrierCode") in {"", "Other"} and not _text(record, "carrierName"):
        return "Sage has no courier for this despatch; Amazon needs the carrier: set the courier in Sage"
    if not _text(record, "shipDate").rstrip("Z"):
        return "the despatch has no date in Sage"
    return None


def ship_date(text: str, now: datetime) -> str:
    """The mapped ship date, or ``now`` when it lies ahead of it.

    A ship date in the future is refused; Sage's clock can be ahead, and Sage keeps local time,
    which is read as UTC (an hour ahead in British Summer Time). Text that is not a date goes as
    it is, for Amazon to say what is wrong with it.
    """
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    return to_iso(now) if when.replace(tzinfo=when.tzinfo or UTC) > now else text


def package_detail(record: etree._Element, planned: Planned, now: datetime | None = None) -> dict[str, Any]:
    """confirmShipment's ``packageDetail`` (ordersV0.json ``PackageDetail``) for ``planned``."""
    detail: dict[str, Any] = {"packageReferenceId": planned.package_reference_id,
                              "carrierCode": _text(record, "carrierCode"),
                              "trackingNumber": _text(record, "trackingNumber"),
                              "shipDate": ship_date(_text(record, "shipDate"), now or datetime.now(UTC)),
                              "orderItems": planned.items}
    detail.update({name: _text(record, name) for name in OPTIONAL_FIELDS if _text(record, name)})
    return detail


class _Journal:
    """Intents of this run folder: ``order id, package number, items`` appended before each confirmShipment."""

    def __init__(self, path: Path):
        self.path = path
        self.earlier: dict[str, list[Planned]] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    order_id, reference, items = line.split("\t")
                    parsed = json.loads(items)
                except ValueError:
                    continue  # a line cut by a killed worker: written before its call, so nothing was sent
                self.earlier.setdefault(order_id, []).append(Planned(reference, parsed["items"], parsed["skus"]))

    def record(self, order_id: str, planned: Planned) -> None:
        with append_private(self.path) as handle:
            handle.write(f"{order_id}\t{planned.package_reference_id}\t"
                         f"{json.dumps({'items': planned.items, 'skus': planned.skus})}\n")
            handle.flush()


def _confirmation_element(planned: Planned, note: str = "") -> etree._Element:
    element = etree.Element("confirmation")
    etree.SubElement(element, "packageReferenceId").text = planned.package_reference_id
    for item in planned.items:
        entry = etree.SubElement(element, "item")
        etree.SubElement(entry, "orderItemId").text = item["orderItemId"]
        etree.SubElement(entry, "sku").text = planned.skus.get(item["orderItemId"], "")
        etree.SubElement(entry, "quantity").text = str(item["quantity"])
    if note:
        etree.SubElement(element, "note").text = note
    return element


class _Confirmer:
    def __init__(self, amazon: AmazonShipments, journal: _Journal, files: RecordFiles, result: ConfirmResult):
        self.amazon, self.journal, self.files, self.result = amazon, journal, files, result

    def succeed(self, record: etree._Element, order_id: str, planned: Planned, note: str = "") -> None:
        annotated = copy.deepcopy(record)
        annotated.append(_confirmation_element(planned, note))
        self.files.write("success", annotated, warnings=planned.warnings or None, stage=STAGE, owned=True)
        self.result.confirmed += 1
        self.result.units += planned.units
        units: dict[str, int] = {}
        for item in planned.items:  # per SKU: an order can hold one SKU on two items
            sku = planned.skus.get(item["orderItemId"], item["orderItemId"])
            units[sku] = units.get(sku, 0) + item["quantity"]
        self.result.confirmations.append({"orderId": order_id, "packageReferenceId": planned.package_reference_id,
                                          "items": units,
                                          "carrierCode": _text(record, "carrierCode"),
                                          "carrierName": _text(record, "carrierName"),
                                          "trackingNumber": _text(record, "trackingNumber")})

    def fail(self, record: etree._Element, order_id: str, reason: str) -> None:
        self.files.write("fail", record, errors=[reason], stage=STAGE)
        self.result.failures.append((order_id or f"Sage order {_text(record, 'sageOrderNumber')}", reason))

    def skip(self, record: etree._Element, reason: str) -> None:
        self.files.write("skipped", record, warnings=[reason], stage=STAGE)
        self.result.skipped += 1

    def handle(self, record: etree._Element) -> None:
        order_id = _text(record, "orderId")
        problem = amazon_order_problem(order_id)
        if problem:
            self.skip(record, problem)
            return
        try:
            despatched = _despatched(record)
        except ValueError as exc:
            self.fail(record, order_id, str(exc))
            return
        order = self.amazon.get_order(order_id, INCLUDED_DATA)
        if order is None:
            self.fail(record, order_id, f"Amazon does not know order {order_id} for this seller (getOrder: not found)")
            return
        if self._confirmed_by_an_earlier_try(record, order_id, order):
            return
        planned = plan_shipment(despatched, order)
        if isinstance(planned, Decided):
            if planned.kind == "skip":
                self.skip(record, planned.reason)
            else:
                self.fail(record, order_id, planned.reason)
            return
        problem = _package_problem(record)
        if problem:
            self.fail(record, order_id, problem)
            return
        self._send(record, order_id, planned, (order.get("salesChannel") or {}).get("marketplaceId"))

    def _confirmed_by_an_earlier_try(self, record: etree._Element, order_id: str, order: dict[str, Any]) -> bool:
        """A package this run's journal intended and Amazon now shows, but no file recorded (a killed try)."""
        for planned in self.journal.earlier.get(order_id, []):
            if package_shows(order, planned):
                self.succeed(record, order_id, planned, note="confirmed by an earlier try of this run, whose worker "
                                                            "stopped before recording it; Amazon shows the package")
                return True
        return False

    def _send(self, record: etree._Element, order_id: str, planned: Planned, marketplace_id: str | None) -> None:
        self.journal.record(order_id, planned)
        try:
            self.amazon.confirm_shipment(order_id, package_detail(record, planned), marketplace_id)
        except ShipmentRefused as exc:
            self.fail(record, order_id, f"Amazon refused the shipment: {exc}")
            return
        except SpApiOutcomeUnknown as exc:
            if package_shows(self.amazon.get_order(order_id, INCLUDED_DATA), planned):
                self.succeed(record, order_id, planned, note="Amazon's answer was lost; getOrder shows the package")
                return
            self.result.unsettled.append(order_id)
            self.fail(record, order_id, f"{exc}. Amazon does not show the package yet, so nothing is sent again now: "
                                        "the task's retry reads Amazon first and confirms only what is still unshipped")
            return
        self.succeed(record, order_id, planned)


def confirm_shipments(input_file: Path, folder: Path, amazon: AmazonShipments) -> ConfirmResult:
    """Confirm each ``Shipment`` of ``input_file``; write the success, fail and skipped files into ``folder``.

    The whole input is checked to be well-formed first, so a broken file sends nothing.
    """
    check_well_formed(input_file)
    paths = {kind: folder / name for kind, name in FILES.items()}
    result = ConfirmResult(paths["success"], paths["fail"], paths["skipped"])
    journal = _Journal(folder / JOURNAL)
    with RecordFiles(paths, "Shipments") as files:
        confirmer = _Confirmer(amazon, journal, files, result)
        for _, record in iterparse_xml_file(input_file, tag=RECORD):
            result.records += 1
            confirmer.handle(record)
            record.clear()
    return result
