"""Import Zynk XML sales orders into Sage 50: the Import Sales Orders phase, without Airflow.

Per order, in document order:

* status not importable (PENDING, ...) -> skipped, never written;
* CANCELLED and already in Sage, not despatched -> marked cancelled in the Sage order's notes
  (``mark_cancellations``; otherwise flagged *needs attention*), never deleted;
* CANCELLED and already in Sage, despatched -> fail file: refund or recover it;
* CANCELLED and not in Sage -> skipped;
* some items cancelled (``CancelledItems``), order not in Sage -> imported without them, a warning naming them;
* some items cancelled, order already in Sage -> its lines of those items marked, as a whole cancellation
  is (:mod:`~amazon_sage.core.sage.cancellations`), or the fail file when a line is despatched;
* already in Sage (``CUST_ORDER_NUMBER``) -> skipped as a duplicate, with the Sage number;
* invalid (unknown SKU, wrong totals, ...) -> fail file with every error;
* otherwise written to Sage -> success file with the Sage order number. Orders go in
  transactions of up to ``BATCH`` whole orders, each checked against Sage inside it.

A journal in the run folder records each committed order, so that when a retried task
meets an order its own earlier attempt imported, it reports it as imported, not skipped.
Only a phase-level problem (unreadable input, lost connection, locked company) raises. The
whole input is checked to be well-formed before anything is written, so a broken file fails
with nothing in Sage. A problem after some orders were committed (a lost connection, say)
raises :class:`ImportInterrupted` with the result files written for what was done.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from amazon_sage.core.counts import PhaseCounts
from amazon_sage.core.files import append_private
from amazon_sage.core.sage.cancellations import (
    MARK_PREFIX,
    despatch_state,
    lines_of,
    mark_cancelled,
    mark_lines_cancelled,
)
from amazon_sage.core.sage.check_helpers import order_preparer
from amazon_sage.core.sage.order_checks import FAIL, WRITE, PreparedOrder
from amazon_sage.core.sage.order_reader import iter_sales_order_elements
from amazon_sage.core.sage.order_sql import find_order_numbers, insert_sales_orders, read_company_facts
from amazon_sage.core.xml_files import check_well_formed
from amazon_sage.core.zynk_results import RecordFiles

log = logging.getLogger(__name__)

SUCCESS_FILE = "zynk_orders_success.xml"
FAIL_FILE = "zynk_orders_fail.xml"
SKIPPED_FILE = "zynk_orders_skipped.xml"
JOURNAL_FILE = ".import_journal.tsv"
CANCELLED = "CANCELLED"
BATCH = 200  # orders per transaction: whole orders only, so a crash loses no half order


class ImportInterrupted(Exception):
    """The import stopped after committing some orders; ``result`` holds the files and counts of what was done.

    ``cause`` is the error that stopped it (e.g. a ``pyodbc.Error``). Every order in the success
    file is in Sage; a retry of the same file imports the rest and reports those as imported.
    """

    def __init__(self, cause: BaseException, result: ImportResult):
        self.cause, self.result = cause, result
        super().__init__(f"{cause}. {self.what_happened()}")

    def what_happened(self) -> str:
        return (f"{self.result.imported} orders were committed to Sage before the import stopped (listed in "
                f"{self.result.success_file.name}); clearing the task imports the rest exactly once")


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
    cancelled_marked: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    attention_orders: list[tuple[str, int]] = field(default_factory=list)
    cancelled_after_despatch: list[tuple[str, str]] = field(default_factory=list)
    cancellation_requests: list[tuple[str, int, str]] = field(default_factory=list)  # (order id, Sage number, reason)

    def counts(self) -> PhaseCounts:
        """In, imported (out), failed and skipped, with duplicates and cancellations needing attention."""
        return PhaseCounts(self.read, self.imported, failed=self.failed, skipped=self.skipped,
                           details={"duplicates": self.duplicates, "attention": self.attention,
                                    "cancelled_marked": self.cancelled_marked})


class _Journal:
    """Orders this run has committed to Sage, appended (and flushed) right after each commit."""

    def __init__(self, path: Path):
        self.imported: dict[str, int] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                order_id, _, number = line.partition("\t")
                if number.isdigit():
                    self.imported[order_id] = int(number)
        self._handle = append_private(path)  # 0600: it names orders

    def record(self, order_id: str, number: int) -> None:
        self._handle.write(f"{order_id}\t{number}\n")
        self._handle.flush()  # a killed process keeps what the OS already has
        self.imported[order_id] = number

    def close(self) -> None:
        self._handle.close()


def import_sales_orders(input_file: Path, output_dir: Path, connect: Callable[[], Any], *,
                        import_statuses: set[str], unknown_sku_action: str = "fail",
                        helper_processes: int = 0, mark_cancellations: bool = True) -> ImportResult:
    """Import every order of ``input_file`` through a connection from ``connect()``.

    Writes the success, fail and skipped files into ``output_dir`` and returns the counts.
    ``helper_processes`` read and check orders ahead of the import (0: in this process); the
    outcome is the same either way.
    """
    result = ImportResult(output_dir / SUCCESS_FILE, output_dir / FAIL_FILE, output_dir / SKIPPED_FILE)
    journal = _Journal(output_dir / JOURNAL_FILE)
    connection = connect()
    stopped: BaseException | None = None
    try:
        facts = read_company_facts(connection)
        paths = {"success": result.success_file, "fail": result.fail_file, "skipped": result.skipped_file}
        with RecordFiles(paths, "SalesOrders") as files:
            try:
                _import(input_file, facts, connection, files, journal, result, import_statuses=import_statuses,
                        unknown_sku_action=unknown_sku_action, helper_processes=helper_processes,
                        mark_cancellations=mark_cancellations)
            except Exception as exc:
                if not result.imported:
                    raise  # nothing is in Sage: no result files, the error alone says what to fix
                stopped = exc  # orders are in Sage: the result files must say which
    finally:
        with contextlib.suppress(Exception):  # a dead connection may not close cleanly; the cause matters
            connection.close()
        journal.close()
    if stopped is not None:
        raise ImportInterrupted(stopped, result) from stopped
    return result


def _import(input_file: Path, facts: Any, connection: Any, files: RecordFiles, journal: _Journal,
            result: ImportResult, *, import_statuses: set[str], unknown_sku_action: str,
            helper_processes: int, mark_cancellations: bool) -> None:
    with order_preparer(input_file, facts, import_statuses, unknown_sku_action, helper_processes) as prepare:
        check_well_formed(input_file)  # before the first write; while the helpers start, so it costs no time
        pending: list[tuple[Any, PreparedOrder]] = []
        for element in iter_sales_order_elements(input_file):
            result.read += 1
            prepared = prepare(element)
            if _ready(element, prepared, connection, files, result, import_statuses, mark_cancellations):
                pending.append((element, prepared))  # detached by the reader, so it stays whole
            if len(pending) >= BATCH:
                _write_batch(pending, connection, files, journal, result, mark_cancellations)
        if pending:
            _write_batch(pending, connection, files, journal, result, mark_cancellations)


def _ready(element: Any, prepared: PreparedOrder, connection: Any, files: RecordFiles, result: ImportResult,
           import_statuses: set[str], mark_cancellations: bool) -> bool:
    """Whether the order is to be written; if not, write it to the fail or skipped file."""
    if prepared.kind == FAIL:
        files.write("fail", element, errors=prepared.errors, stage=prepared.fail_stage)
        result.failed += 1
        result.failures.append((prepared.order_id, "; ".join(prepared.errors or [])))
        return False
    if prepared.kind == WRITE:
        return True
    number = prepared.customer_order_number
    existing = find_order_numbers(connection, [number]).get(number)
    if prepared.status == CANCELLED and existing is not None:
        _cancelled_in_sage(element, prepared.order_id, existing, connection, files, result, mark_cancellations)
        return False
    message = f"Status {prepared.status} is not imported (imported: {', '.join(sorted(import_statuses))})"
    files.write("skipped", element, stage="Status filter", sales_order_number=existing, warnings=[message])
    result.skipped += 1
    return False


def _cancelled_in_sage(element: Any, order_id: str, number: int, connection: Any, files: RecordFiles,
                       result: ImportResult, mark: bool) -> None:
    """An order Amazon cancelled after it went into Sage as ``number``: fail, mark or flag it (see the module doc)."""
    despatched, shown = despatch_state(connection, number)
    if despatched:
        message = (f"Cancelled on Amazon after despatch: refund or recover. Sage order {number} shows {shown}; "
                   "it has not been changed.")
        files.write("fail", element, errors=[message], stage="Cancelled after despatch")
        result.failed += 1
        result.failures.append((order_id, message))
        result.cancelled_after_despatch.append((order_id, message))
        return
    if mark:
        changed = mark_cancelled(connection, number, datetime.now())
        message = (f"Cancelled on Amazon before despatch: Sage order {number} "
                   + ("is now marked" if changed else "was already marked")
                   + f" '{MARK_PREFIX} ...: DO NOT SHIP' in its first notes line. Cancel or delete it in Sage once "
                   "checked (stock allocation is left to Sage).")
        files.write("skipped", element, warnings=[message], stage="Cancellation marked", sales_order_number=number)
        result.cancelled_marked += int(changed)
    else:
        message = (f"Cancelled on Amazon after it was imported as Sage order {number}. Review it in Sage: "
                   "cancel or credit it by hand. It has not been changed.")
        files.write("skipped", element, warnings=[message], stage="Needs attention", sales_order_number=number)
        result.attention += 1
        result.attention_orders.append((order_id, number))
    result.skipped += 1


def _write_batch(pending: list[tuple[Any, PreparedOrder]], connection: Any, files: RecordFiles,
                 journal: _Journal, result: ImportResult, mark_cancellations: bool) -> None:
    """Insert the pending orders (one transaction), then record and report each one."""
    outcome = insert_sales_orders(connection, [prepared.rows for _, prepared in pending])
    for (element, prepared), (number, inserted) in zip(pending, outcome, strict=True):
        key = prepared.customer_order_number
        if inserted:
            journal.record(key, number)
        request = []
        if prepared.cancellation_request:  # still open on Amazon, but the buyer asked to cancel: check before shipping
            request = [f"NEEDS ATTENTION: the buyer asked Amazon to cancel this order "
                       f"({prepared.cancellation_request}); check before you ship Sage order {number}"]
            result.attention += 1
            result.cancellation_requests.append((prepared.order_id, number, prepared.cancellation_request))
        if inserted or journal.imported.get(key) == number:
            left_out = [f"Cancelled on Amazon before import, so not a line of Sage order {number}: {item.describe()}"
                        for item in prepared.cancelled_items]
            files.write("success", element, sales_order_number=number,
                        warnings=prepared.rows.warnings + left_out + request, owned=True)
            result.imported += 1
        elif not (prepared.cancelled_items and _items_cancelled_in_sage(
                element, prepared, number, connection, files, result, request, mark=mark_cancellations)):
            files.write("skipped", element, stage="Prevent duplicates", sales_order_number=number,
                        warnings=[f"Already in Sage as order {number}; not imported again", *request], owned=True)
            result.skipped += 1
            result.duplicates += 1
    pending.clear()


def _items_cancelled_in_sage(element: Any, prepared: PreparedOrder, number: int, connection: Any,
                             files: RecordFiles, result: ImportResult, request: list[str], *, mark: bool) -> bool:
    """Items Amazon cancelled on an order Sage holds as ``number``: fail, mark or flag its lines of them.

    False when Sage's order has no line of those items (it went in after they were cancelled): a plain duplicate.
    """
    cancelled = {item.sku: item for item in prepared.cancelled_items}
    lines = lines_of(connection, number, cancelled)
    if not lines:
        return False
    order_id = prepared.order_id
    despatched = [line for line in lines if line.despatched]
    errors = [f"Cancelled on Amazon after despatch: refund or recover. {cancelled[line.stock_code].describe()} is "
              f"line {line.item_number} of Sage order {number}, which shows {line.delivered:g} delivered, "
              f"{line.on_despatch:g} on a despatch; it has not been changed." for line in despatched]
    open_lines = [line for line in lines if not line.despatched]
    warnings = list(request)
    if open_lines and mark:
        newly = mark_lines_cancelled(connection, number, [line.item_number for line in open_lines], datetime.now())
        result.cancelled_marked += int(newly > 0)
        warnings.append(f"Items cancelled on Amazon before despatch: line(s) "
                        f"{', '.join(str(line.item_number) for line in open_lines)} of Sage order {number} "
                        + ("are now marked" if newly else "were already marked")
                        + f" '{MARK_PREFIX} ...: DO NOT SHIP' in their first comment, the order in its first notes "
                        "line. Edit the order in Sage once checked (stock allocation is left to Sage): "
                        + "; ".join(cancelled[line.stock_code].describe() for line in open_lines))
    elif open_lines:
        warnings.append(f"Items cancelled on Amazon after the order was imported as Sage order {number}: "
                        + "; ".join(cancelled[line.stock_code].describe() for line in open_lines)
                        + ". Review it in Sage: remove or credit them by hand. It has not been changed.")
        result.attention += 1
        result.attention_orders.append((order_id, number))
    if errors:
        files.write("fail", element, errors=errors, stage="Cancelled after despatch", warnings=warnings, owned=True)
        result.failed += 1
        result.failures.append((order_id, errors[0]))
        result.cancelled_after_despatch.append((order_id, " ".join(errors)))
    else:
        stage = "Cancellation marked" if mark else "Needs attention"
        files.write("skipped", element, stage=stage, sales_order_number=number, warnings=warnings, owned=True)
        result.skipped += 1
    return True
