"""Import Zynk XML sales orders into Sage 50: the Import Sales Orders phase, without Airflow.

Per order, in document order:

* status not importable (PENDING, ...) -> skipped, never written;
* CANCELLED and already in Sage -> skipped and flagged *needs attention* (never deleted);
* CANCELLED and not in Sage -> skipped;
* already in Sage (``CUST_ORDER_NUMBER``) -> skipped as a duplicate, with the Sage number;
* invalid (unknown SKU, wrong totals, ...) -> fail file with every error;
* otherwise written to Sage -> success file with the Sage order number. Orders go in
  transactions of up to ``BATCH`` whole orders, each checked against Sage inside it.

A journal in the run folder records each committed order, so that when a retried task
meets an order its own earlier attempt imported, it reports it as imported, not skipped.
Only a phase-level problem (unreadable input, lost connection, locked company) raises.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amazon_sage.core.sage_order_rows import OrderRejected, build_rows
from amazon_sage.core.sage_sales_orders import find_order_numbers, insert_sales_orders, read_company_facts
from amazon_sage.core.zynk_results import RecordFiles
from amazon_sage.core.zynk_sales_orders import RecordError, SalesOrder, iter_sales_order_elements, parse_sales_order

log = logging.getLogger(__name__)

SUCCESS_FILE = "zynk_orders_success.xml"
FAIL_FILE = "zynk_orders_fail.xml"
SKIPPED_FILE = "zynk_orders_skipped.xml"
JOURNAL_FILE = ".import_journal.tsv"
CANCELLED = "CANCELLED"
BATCH = 200  # orders per transaction: whole orders only, so a crash loses no half order


@dataclass
class ImportResult:
    success_file: Path
    fail_file: Path
    skipped_file: Path
    read: int = 0
    imported: int = 0
    failed: int = 0
    skipped: int = 0
    duplicates: int = 0
    attention: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    attention_orders: list[tuple[str, int]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"in": self.read, "imported": self.imported, "failed": self.failed, "skipped": self.skipped,
                "duplicates": self.duplicates, "attention": self.attention}


class _Journal:
    """Orders this run has committed to Sage, appended (and flushed) right after each commit."""

    def __init__(self, path: Path):
        self.imported: dict[str, int] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                order_id, _, number = line.partition("\t")
                if number.isdigit():
                    self.imported[order_id] = int(number)
        self._handle = path.open("a", encoding="utf-8")

    def record(self, order_id: str, number: int) -> None:
        self._handle.write(f"{order_id}\t{number}\n")
        self._handle.flush()  # a killed process keeps what the OS already has
        self.imported[order_id] = number

    def close(self) -> None:
        self._handle.close()


def import_sales_orders(input_file: Path, output_dir: Path, connect: Callable[[], Any], *,
                        import_statuses: set[str], unknown_sku_action: str = "fail") -> ImportResult:
    """Import every order of ``input_file`` through a connection from ``connect()``.

    Writes the success, fail and skipped files into ``output_dir`` and returns the counts.
    """
    result = ImportResult(output_dir / SUCCESS_FILE, output_dir / FAIL_FILE, output_dir / SKIPPED_FILE)
    journal = _Journal(output_dir / JOURNAL_FILE)
    connection = connect()
    try:
        facts = read_company_facts(connection)
        paths = {"success": result.success_file, "fail": result.fail_file, "skipped": result.skipped_file}
        with RecordFiles(paths, "SalesOrders") as files:
            pending: list[tuple[Any, SalesOrder, Any]] = []
            for element in iter_sales_order_elements(input_file):
                result.read += 1
                ready = _prepare(element, connection, facts, files, result, import_statuses, unknown_sku_action)
                if ready is not None:
                    pending.append((element, *ready))  # detached by the reader, so it stays whole
                if len(pending) >= BATCH:
                    _write_batch(pending, connection, files, journal, result)
            if pending:
                _write_batch(pending, connection, files, journal, result)
    finally:
        connection.close()
        journal.close()
    return result


def _prepare(element: Any, connection: Any, facts: Any, files: RecordFiles, result: ImportResult,
             import_statuses: set[str], unknown_sku_action: str) -> tuple[SalesOrder, Any] | None:
    """Parse and check one order; write it to the fail or skipped file, or return it ready to insert."""
    try:
        order = parse_sales_order(element)
    except RecordError as exc:
        order_id = (element.findtext("Id") or "?").strip()
        files.write("fail", element, errors=[str(exc)], stage="Pre-validation")
        result.failed += 1
        result.failures.append((order_id, str(exc)))
        return None

    if order.status and order.status not in import_statuses:
        existing = find_order_numbers(connection, [order.customer_order_number]).get(order.customer_order_number)
        if order.status == CANCELLED and existing is not None:
            message = (f"Cancelled on Amazon after it was imported as Sage order {existing}. Review it in Sage: "
                       "cancel or credit it by hand. It has not been changed.")
            files.write("skipped", element, warnings=[message], stage="Needs attention", sales_order_number=existing)
            result.attention += 1
            result.attention_orders.append((order.id, existing))
        else:
            message = f"Status {order.status} is not imported (imported: {', '.join(sorted(import_statuses))})"
            files.write("skipped", element, stage="Status filter", sales_order_number=existing, warnings=[message])
        result.skipped += 1
        return None

    try:
        rows = build_rows(order, facts, unknown_sku_action=unknown_sku_action)
    except OrderRejected as exc:
        files.write("fail", element, errors=exc.errors)
        result.failed += 1
        result.failures.append((order.id, str(exc)))
        return None
    return order, rows


def _write_batch(pending: list[tuple[Any, SalesOrder, Any]], connection: Any, files: RecordFiles,
                 journal: _Journal, result: ImportResult) -> None:
    """Insert the pending orders (one transaction), then record and report each one."""
    outcome = insert_sales_orders(connection, [rows for _, _, rows in pending])
    for (element, order, rows), (number, inserted) in zip(pending, outcome, strict=True):
        if inserted:
            journal.record(order.customer_order_number, number)
        if inserted or journal.imported.get(order.customer_order_number) == number:
            files.write("success", element, sales_order_number=number, warnings=rows.warnings, owned=True)
            result.imported += 1
        else:
            files.write("skipped", element, stage="Prevent duplicates", sales_order_number=number,
                        warnings=[f"Already in Sage as order {number}; not imported again"], owned=True)
            result.skipped += 1
            result.duplicates += 1
    pending.clear()
