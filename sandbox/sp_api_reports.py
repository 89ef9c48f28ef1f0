"""The Reports API 2021-06-30 part of the SP-API sandbox: Amazon's FBA inventory report.

* ``createReport`` checks its body against the model's ``CreateReportSpecification`` (and refuses keys the
  model does not declare, and marketplaces Amazon has not); the sandbox makes one report type,
  ``GET_FBA_MYI_UNSUPPRESSED_INVENTORY_DATA``.
* A report is ``IN_QUEUE``, then ``IN_PROGRESS``, and ``report_processing_delay`` seconds (as set when it was made)
  after its creation ``DONE`` with a ``reportDocumentId``; or ``CANCELLED`` when the seller has no FBA SKU, as
  Amazon cancels a report with no data; or the next of ``report_outcomes`` (``FATAL``, ``CANCELLED``).
* The document is Amazon's flat file: tab-separated, a header row, one row per FBA SKU (``fba_skus``, which may
  name SKUs the sandbox has no listing for, as Amazon's warehouse may hold stock Sage does not know), in
  ``report_encoding`` (``cp1252`` by default, as Amazon writes EU flat files; or ``utf-8``), gzip-compressed with
  ``compressionAlgorithm`` GZIP when ``report_gzip``. ``report_body`` replaces the whole file (bytes as latin-1
  text) for tests of unreadable reports.
* ``getReport`` and ``getReportDocument`` answers are checked against the model's ``Report`` and
  ``ReportDocument`` schemas.
"""

from __future__ import annotations

import gzip
import json
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from sandbox.catalogue import CATALOGUE
from sandbox.sp_api_feeds import MARKETPLACE_CURRENCIES, _iso_now

REPORTS = "/reports/2021-06-30"
REPORT_DOWNLOADS = "/_report_downloads/"
REPORT_LIMITS = {"createReport": (0.0167, 15), "getReport": (2.0, 15), "getReportDocument": (0.0167, 15)}
FBA_INVENTORY = "GET_FBA_MYI_UNSUPPRESSED_INVENTORY_DATA"
# Amazon's columns for this report, in its order.
FBA_COLUMNS = ("sku", "fnsku", "asin", "product-name", "condition", "your-price", "mfn-listing-exists",
               "mfn-fulfillable-quantity", "afn-listing-exists", "afn-warehouse-quantity", "afn-fulfillable-quantity",
               "afn-unsellable-quantity", "afn-reserved-quantity", "afn-total-quantity", "per-unit-volume",
               "afn-inbound-working-quantity", "afn-inbound-shipped-quantity", "afn-inbound-receiving-quantity",
               "afn-researching-quantity", "afn-reserved-future-supply", "afn-future-supply-buyable")


class ReportsError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Report:
    report_id: str
    report_type: str
    marketplace_ids: list[str]
    created: float
    created_iso: str
    processing_delay: float
    outcome: str | None = None
    status: str = "IN_QUEUE"
    document_id: str | None = None
    processed_iso: str | None = None


@dataclass
class ReportsState:
    reports: dict[str, Report] = field(default_factory=dict)
    documents: dict[str, tuple[bytes, bool]] = field(default_factory=dict)  # id -> (bytes served, gzipped)
    processing_delay: float = 0.2
    report_outcomes: list[str] = field(default_factory=list)
    fba_skus: list[str] = field(default_factory=list)
    report_encoding: str = "cp1252"
    report_gzip: bool = False
    report_body: str | None = None


class ReportsModel:
    def __init__(self, directory: Path):
        model = json.loads((directory / "reports_2021-06-30.json").read_text())
        definitions = model["definitions"]
        self.specification = definitions["CreateReportSpecification"]

        def validator(name: str) -> jsonschema.Draft4Validator:
            return jsonschema.Draft4Validator({"$ref": f"#/definitions/{name}", "definitions": definitions})

        self.create_validator = validator("CreateReportSpecification")
        self.created_validator = validator("CreateReportResponse")
        self.report_validator = validator("Report")
        self.document_validator = validator("ReportDocument")


def _checked(validator: jsonschema.Draft4Validator, answer: dict[str, Any]) -> dict[str, Any]:
    error = next(iter(validator.iter_errors(answer)), None)
    if error is not None:
        raise ReportsError(500, "InternalFailure", f"Sandbox answer breaks the model: {error.message}")
    return answer


class ReportsSandbox:
    """Reports behaviour; mixed into the Sandbox, which provides ``state.lock`` and ``feeds_state.listings``."""

    reports_state: ReportsState
    reports_model: ReportsModel

    def init_reports(self, directory: Path) -> None:
        self.reports_state = ReportsState()
        self.reports_model = ReportsModel(directory)

    def configure_reports(self, config: dict[str, Any]) -> None:
        if "report_processing_delay" in config:
            self.reports_state.processing_delay = float(config["report_processing_delay"])
        for key in ("report_outcomes", "fba_skus", "report_encoding", "report_gzip", "report_body"):
            if key in config:
                setattr(self.reports_state, key, config[key])

    def create_report(self, body: dict[str, Any]) -> dict[str, Any]:
        error = next(iter(self.reports_model.create_validator.iter_errors(body)), None)
        if error is not None:
            raise ReportsError(400, "InvalidInput", f"{error.message} at {'/'.join(map(str, error.path)) or 'body'}")
        unknown = set(body) - set(self.reports_model.specification["properties"])
        if unknown:
            raise ReportsError(400, "InvalidInput", f"Unknown field(s): {', '.join(sorted(unknown))}")
        if body["reportType"] != FBA_INVENTORY:
            raise ReportsError(400, "InvalidInput", f"Report type {body['reportType']} is not served by the sandbox.")
        bad = [m for m in body["marketplaceIds"] if m not in MARKETPLACE_CURRENCIES]
        if bad:
            raise ReportsError(400, "InvalidInput", f"Invalid marketplaceIds: {', '.join(bad)}")
        state = self.reports_state
        report = Report(report_id=str(60001019000 + len(state.reports)), report_type=body["reportType"],
                        marketplace_ids=list(body["marketplaceIds"]), created=time.monotonic(),
                        created_iso=_iso_now(), processing_delay=state.processing_delay,
                        outcome=state.report_outcomes.pop(0) if state.report_outcomes else None)
        state.reports[report.report_id] = report
        return _checked(self.reports_model.created_validator, {"reportId": report.report_id})

    def get_report(self, report_id: str) -> dict[str, Any]:
        report = self.reports_state.reports.get(report_id)
        if report is None:
            raise ReportsError(404, "NotFound", f"Report {report_id} not found.")
        self._advance_report(report)
        answer: dict[str, Any] = {"reportId": report.report_id, "reportType": report.report_type,
                                  "marketplaceIds": report.marketplace_ids, "createdTime": report.created_iso,
                                  "processingStatus": report.status}
        if report.status != "IN_QUEUE":
            answer["processingStartTime"] = report.created_iso
        if report.processed_iso:
            answer["processingEndTime"] = report.processed_iso
        if report.document_id:
            answer["reportDocumentId"] = report.document_id
        return _checked(self.reports_model.report_validator, answer)

    def get_report_document(self, document_id: str, base_url: str) -> dict[str, Any]:
        document = self.reports_state.documents.get(document_id)
        if document is None:
            raise ReportsError(404, "NotFound", f"Report document {document_id} not found.")
        answer = {"reportDocumentId": document_id, "url": f"{base_url}{REPORT_DOWNLOADS}{document_id}"}
        if document[1]:
            answer["compressionAlgorithm"] = "GZIP"
        return _checked(self.reports_model.document_validator, answer)

    def download_report(self, document_id: str) -> bytes:
        document = self.reports_state.documents.get(document_id)
        if document is None:
            raise ReportsError(404, "NoSuchKey", "The specified key does not exist.")
        return document[0]

    # -- processing --------------------------------------------------------------------------

    def _advance_report(self, report: Report) -> None:
        elapsed = time.monotonic() - report.created
        if report.status in {"IN_QUEUE", "IN_PROGRESS"}:
            if elapsed >= report.processing_delay:
                self._process_report(report)
            elif elapsed >= report.processing_delay / 2:
                report.status = "IN_PROGRESS"

    def _process_report(self, report: Report) -> None:
        state = self.reports_state
        report.processed_iso = _iso_now()
        if report.outcome in {"FATAL", "CANCELLED"}:
            report.status = report.outcome
            return
        if not state.fba_skus and state.report_body is None:  # no data: Amazon cancels the report
            report.status = "CANCELLED"
            return
        data = (state.report_body.encode("latin-1") if state.report_body is not None
                else self._fba_inventory_file().encode(state.report_encoding))
        report.document_id = f"amzn1.spdoc.1.4.eu.{report.report_id}.{secrets.token_hex(4)}"
        state.documents[report.document_id] = (gzip.compress(data) if state.report_gzip else data, state.report_gzip)
        report.status = "DONE"

    def _fba_inventory_file(self) -> str:
        """Amazon's flat file for the configured FBA SKUs: header row, then a row each (afn-listing-exists Yes)."""
        products = {p.sku: p for p in CATALOGUE}
        lines = ["\t".join(FBA_COLUMNS)]
        for number, sku in enumerate(self.reports_state.fba_skus, start=1):
            product = products.get(sku)
            listing = self.feeds_state.listings.get(sku)  # type: ignore[attr-defined]
            quantity = listing.quantity if listing and listing.quantity is not None else 0
            row = {"sku": sku, "fnsku": f"X00{number:07d}", "asin": product.asin if product else f"B0FBA{number:05d}",
                   "product-name": product.title if product else sku, "condition": "New",
                   "your-price": str(product.price) if product else "", "mfn-listing-exists": "No",
                   "mfn-fulfillable-quantity": "", "afn-listing-exists": "Yes",
                   "afn-warehouse-quantity": str(quantity), "afn-fulfillable-quantity": str(quantity),
                   "afn-total-quantity": str(quantity)}
            lines.append("\t".join(row.get(column, "0") for column in FBA_COLUMNS))
        return "\r\n".join(lines) + "\r\n"
