"""Export Audit Trail: Zynk XML sales orders -> one Sage audit-trail import file per run, each order once.

Per order, in document order:

* not a readable order, or one Sage would refuse (unknown account or nominal code, a field too
  long, ...) -> fail file with every reason;
* status not imported (PENDING, ...) -> skipped;
* already in Sage (an SI in ``AUDIT_HEADER`` with the Amazon order id as its reference) ->
  skipped as a duplicate, and the ledger entry, if any, confirmed;
* exported earlier in a file Sage has not imported yet (the ledger) -> skipped, not exported
  again;
* CANCELLED after it was posted or exported -> skipped and flagged *needs attention*;
* otherwise one sales invoice in this run's file -> success file.

The file is written in the run folder (the archive keeps it), then moved into the drop folder
under a name of its own. Ledger entries are reserved before the file is written and become
``exported`` once it is in the drop folder, so neither a retry, a rerun of any window, nor a
crash at any point exports an order twice or loses one (:mod:`.export_ledger`).

Every run also looks up, in Sage, the orders exported earlier and not yet found there: those
Sage now holds are confirmed; those waiting longer than ``overdue_after`` are listed as needing
attention ("file not imported?"). Nothing is ever written to Sage.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from amazon_sage.core.counts import PhaseCounts
from amazon_sage.core.files import PRIVATE_FILE, atomic_output, private_dir
from amazon_sage.core.sage.audit_trail.csv_format import MAX_DEPARTMENT, WIDTH, AuditTrailWriter
from amazon_sage.core.sage.audit_trail.export_ledger import CONFIRMED, EXPORTED, ExportLedger, LedgerEntry
from amazon_sage.core.sage.audit_trail.invoice_lines import SALES_INVOICE, Invoice, InvoiceSettings, invoice_for
from amazon_sage.core.sage.audit_trail.sage_reads import HeldTransaction, held_transactions, read_nominal_codes
from amazon_sage.core.sage.order_checks import UNREADABLE, record_id
from amazon_sage.core.sage.order_import import CANCELLED, FAIL_FILE, SKIPPED_FILE, SUCCESS_FILE
from amazon_sage.core.sage.order_reader import RecordError, SalesOrder, iter_sales_order_elements, parse_sales_order
from amazon_sage.core.sage.order_rows import OrderRejected, build_rows
from amazon_sage.core.sage.order_sql import read_company_facts
from amazon_sage.core.xml_files import check_well_formed
from amazon_sage.core.zynk_results import RecordFiles

STAGE = "Audit Trail Export"
DUPLICATES_STAGE = "Prevent duplicates"
ATTENTION_STAGE = "Needs attention"
BATCH = 500  # orders looked up in Sage and the ledger at once
OVERDUE_FILE = "audit_trail_overdue.csv"


@dataclass
class AuditTrailResult:
    success_file: Path
    fail_file: Path
    skipped_file: Path
    import_file: Path | None = None  # in the drop folder; None when the run had nothing to post
    read: int = 0
    exported: int = 0
    failed: int = 0
    skipped: int = 0
    duplicates: int = 0
    attention: int = 0
    confirmed: int = 0
    awaiting_import: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    attention_orders: list[tuple[str, str]] = field(default_factory=list)
    overdue: list[LedgerEntry] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)  # files a crashed earlier export had published

    def counts(self) -> PhaseCounts:
        """In, exported (out), failed and skipped, with the ledger's view of what Sage holds."""
        return PhaseCounts(self.read, self.exported, failed=self.failed, skipped=self.skipped,
                           details={"duplicates": self.duplicates, "attention": self.attention,
                                    "confirmed": self.confirmed, "awaiting_import": self.awaiting_import,
                                    "overdue": len(self.overdue)})


@dataclass(frozen=True)
class ExportSettings:
    drop_folder: Path
    ledger_path: Path
    import_statuses: set[str]
    department: int
    user_name: str
    header_row: bool
    overdue_after: timedelta

    def __post_init__(self) -> None:
        """Settings every line would break are refused at the start, not order by order."""
        if not 0 <= self.department <= MAX_DEPARTMENT:
            raise ValueError(f"the audit-trail department {self.department} is outside Sage's 0 to 999")
        if len(self.user_name) > WIDTH["User Name"]:
            raise ValueError(f"the user name {self.user_name!r} (TAKEN_BY) is longer than the 32 characters Sage's "
                             "import takes")


def import_file_name(run_id: str, taken: set[str]) -> str:
    """A Windows-safe, unused file name for this run's import file: ``amazon_orders_<run>[_<n>].csv``."""
    stem = "amazon_orders_" + re.sub(r"[^A-Za-z0-9.-]+", "-", run_id).strip("-.")
    name, number = f"{stem}.csv", 1
    while name in taken:
        number += 1
        name = f"{stem}_{number}.csv"
    return name


def _publish(source: Path, target: Path) -> None:
    """Put a copy of ``source`` at ``target`` atomically: the bookkeeper sees the whole file or none."""
    private_dir(target.parent)
    partial = target.with_name(f".{target.name}.partial")
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    shutil.copyfile(source, partial)
    os.chmod(partial, PRIVATE_FILE)
    with open(partial, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(partial, target)
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a power cut
    finally:
        os.close(directory)


class _Batch:
    """Up to :data:`BATCH` orders read, decided together after one look-up in Sage and the ledger."""

    def __init__(self) -> None:
        self.orders: list[tuple[Any, SalesOrder]] = []

    def references(self) -> list[str]:
        return [order.customer_order_number for _, order in self.orders]


class _Export:
    def __init__(self, result: AuditTrailResult, settings: ExportSettings, connection: Any, ledger: ExportLedger,
                 files: RecordFiles, writer: AuditTrailWriter, file_name: str, run_id: str,
                 invoice_settings: InvoiceSettings, facts: Any):
        self.result, self.settings, self.connection, self.ledger = result, settings, connection, ledger
        self.files, self.writer, self.file_name, self.run_id = files, writer, file_name, run_id
        self.invoice_settings, self.facts = invoice_settings, facts
        self.in_this_file: set[str] = set()

    def fail(self, element: Any, order_id: str, errors: list[str], stage: str = STAGE) -> None:
        self.files.write("fail", element, errors=errors, stage=stage)
        self.result.failed += 1
        self.result.failures.append((order_id, "; ".join(errors)))

    def skip(self, element: Any, stage: str, message: str) -> None:
        self.files.write("skipped", element, stage=stage, warnings=[message])
        self.result.skipped += 1

    def read(self, element: Any, batch: _Batch) -> None:
        """Read one order; orders that need Sage's and the ledger's view join ``batch``."""
        self.result.read += 1
        try:
            order = parse_sales_order(element)
        except RecordError as exc:
            self.fail(element, record_id(element), [str(exc)], UNREADABLE)
            return
        if order.status and order.status not in self.settings.import_statuses and order.status != CANCELLED:
            self.skip(element, "Status filter", f"Status {order.status} is not imported "
                                                f"(imported: {', '.join(sorted(self.settings.import_statuses))})")
            return
        batch.orders.append((element, order))

    def invoice(self, element: Any, order: SalesOrder) -> Invoice | None:
        """The order's invoice, checked; None (and the order in the fail file) when Sage would refuse it."""
        try:
            # Unknown SKUs do not fail an invoice: the audit trail posts to nominal codes and moves no stock.
            rows = build_rows(order, self.facts, unknown_sku_action="special")
        except OrderRejected as exc:
            self.fail(element, order.id, exc.errors)
            return None
        invoice = invoice_for(order, rows, self.invoice_settings)
        if invoice.errors:
            self.fail(element, order.id, invoice.errors)
            return None
        return invoice

    def decide(self, batch: _Batch) -> None:
        """Look the batch up in Sage and the ledger, then export, skip or flag each order, in order."""
        references = batch.references()
        held = held_transactions(self.connection, SALES_INVOICE, references)
        known = self.ledger.entries(SALES_INVOICE, references)
        self.result.confirmed += self.ledger.confirm(SALES_INVOICE, {ref: h.header_number for ref, h in held.items()
                                            if ref in known and known[ref].state != CONFIRMED and not h.deleted})
        wanted: list[tuple[Any, SalesOrder, Invoice]] = []
        for element, order in batch.orders:
            reference = order.customer_order_number
            in_sage, entry = held.get(reference), known.get(reference)
            if order.status == CANCELLED:
                self.cancelled(element, order, in_sage, entry)
            elif reference in self.in_this_file:
                self.duplicate(element, f"Order {reference} appears twice in this run; exported once")
            elif entry is not None and entry.run_id == self.run_id:
                # This run exported it on an earlier try: it is this run's, so reported as exported again.
                self.files.write("success", element, warnings=[f"In {entry.file}, for Sage's audit-trail import"])
                self.result.exported += 1
            elif order.cancelled_items and entry is not None and self.items_cancelled(element, order, entry):
                continue  # flagged: a credit is owed for items that were on the exported invoice
            elif in_sage is not None and not in_sage.deleted:
                self.duplicate(element, f"Already in Sage as audit-trail transaction {in_sage.header_number}; "
                                        "not exported again")
            elif entry is not None:
                self.already_exported(element, entry, in_sage)
            elif (invoice := self.invoice(element, order)) is not None:  # built only for orders still to post
                wanted.append((element, order, invoice))
        reserved = self.ledger.reserve(
            SALES_INVOICE, [(order.customer_order_number, invoice.lines[0].account_ref, invoice.gross)
                            for _, order, invoice in wanted if invoice.lines],
            file=self.file_name, run_id=self.run_id)
        for element, order, invoice in wanted:
            if not invoice.lines:
                self.skip(element, STAGE, "Nothing to post: the order's total is 0.00")
            elif order.customer_order_number in reserved:
                for line in invoice.lines:
                    self.writer.write(line)
                self.in_this_file.add(order.customer_order_number)
                self.files.write("success", element, warnings=[
                    f"In {self.file_name}, for Sage's audit-trail import",
                    *(f"Cancelled on Amazon before export, so not on the invoice: {item.describe()}"
                      for item in order.cancelled_items)])
                self.result.exported += 1
            else:  # another export reserved it since the look-up: it is that export's
                self.duplicate(element, "Exported by another run at the same time; not exported again")
        batch.orders.clear()

    def duplicate(self, element: Any, message: str) -> None:
        self.skip(element, DUPLICATES_STAGE, message)
        self.result.duplicates += 1

    def already_exported(self, element: Any, entry: LedgerEntry, in_sage: HeldTransaction | None) -> None:
        if in_sage is not None:  # held only as deleted
            self.duplicate(element, f"Exported in {entry.file} and imported into Sage, where transaction "
                                    f"{in_sage.header_number} has since been deleted; not exported again. Post it "
                                    "by hand if it was deleted by mistake")
        elif entry.state == CONFIRMED:
            self.duplicate(element, f"Exported in {entry.file} and confirmed in Sage as transaction "
                                    f"{entry.header_number}; not exported again")
        else:
            self.duplicate(element, f"Exported in {entry.file} on {entry.exported_at:%d/%m/%Y %H:%M} UTC, which "
                                    "Sage has not imported yet; not exported again")

    def items_cancelled(self, element: Any, order: SalesOrder, entry: LedgerEntry) -> bool:
        """Items Amazon cancelled after the order's invoice was exported: flag the credit it needs.

        The ledger keeps the exported gross, so the invoice built now (without the cancelled items) tells
        whether they were in it; False when they were not (cancelled before the export: a plain duplicate).
        """
        invoice = self.invoice(element, order)
        if invoice is None:
            return True  # failed, with its reasons
        if invoice.gross >= entry.gross:
            return False
        items = "; ".join(item.describe() for item in order.cancelled_items)
        where = (f"posted to Sage as audit-trail transaction {entry.header_number}" if entry.state == CONFIRMED
                 else f"exported in {entry.file}")
        self.skip(element, ATTENTION_STAGE,
                  f"Items cancelled on Amazon after the order was {where}: {items}. Its invoice is "
                  f"{entry.gross:.2f}, the order is now {invoice.gross:.2f}: raise a credit note (SC) for "
                  f"{entry.gross - invoice.gross:.2f} in Sage"
                  + ("" if entry.state == CONFIRMED else ", or change that file's lines before importing it") + ".")
        self.result.attention += 1
        self.result.attention_orders.append((order.id, items))
        return True

    def cancelled(self, element: Any, order: SalesOrder, in_sage: HeldTransaction | None,
                  entry: LedgerEntry | None) -> None:
        if in_sage is not None and not in_sage.deleted:
            message = (f"Cancelled on Amazon after it was posted to Sage as audit-trail transaction "
                       f"{in_sage.header_number}. Raise a credit note (SC) for it in Sage.")
        elif entry is not None and entry.state == EXPORTED:
            message = (f"Cancelled on Amazon after it was exported in {entry.file}, which Sage has not imported yet. "
                       f"Delete its lines (Reference {order.customer_order_number}) from that file before importing "
                       "it, or raise a credit note (SC) after.")
        else:
            self.skip(element, "Status filter", "Status CANCELLED is not exported")
            return
        self.skip(element, ATTENTION_STAGE, message)
        self.result.attention += 1
        self.result.attention_orders.append((order.id, message))


def _check_waiting(ledger: ExportLedger, connection: Any, result: AuditTrailResult, *, this_file: str,
                   overdue_after: timedelta, now: datetime) -> None:
    """Confirm earlier exports that Sage now holds; list those waiting longer than ``overdue_after``."""
    waiting = [entry for entry in ledger.in_state(EXPORTED) if entry.file != this_file]
    held = held_transactions(connection, SALES_INVOICE, [entry.reference for entry in waiting])
    live = {ref: h.header_number for ref, h in held.items() if not h.deleted}
    result.confirmed += ledger.confirm(SALES_INVOICE, live)
    still = [entry for entry in waiting if entry.reference not in live]
    result.awaiting_import = len(still)
    result.overdue = [entry for entry in still if now - entry.exported_at > overdue_after]


def _write_overdue(path: Path, overdue: list[LedgerEntry]) -> None:
    with atomic_output(path) as tmp:
        lines = ["Reference,File,Exported (UTC),Account,Gross"]
        lines += [f"{e.reference},{e.file},{e.exported_at:%Y-%m-%d %H:%M},{e.account},{e.gross}" for e in overdue]
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")


def export_audit_trail(input_file: Path, output_dir: Path, connect: Callable[[], Any], settings: ExportSettings, *,
                       run_id: str, now: datetime | None = None) -> AuditTrailResult:
    """Export every postable order of ``input_file`` as sales invoices in one import file; see the module doc.

    Writes the success, fail and skipped files (and ``audit_trail_overdue.csv`` when some earlier
    file waits too long) into ``output_dir``, the import file into ``output_dir`` and the drop
    folder, and returns the counts. Raises before anything is exported when the input is not
    well-formed or Sage cannot be read.
    """
    now = now or datetime.now(UTC)
    result = AuditTrailResult(output_dir / SUCCESS_FILE, output_dir / FAIL_FILE, output_dir / SKIPPED_FILE)
    check_well_formed(input_file)
    connection = connect()
    ledger = ExportLedger(settings.ledger_path)
    try:
        facts = read_company_facts(connection)
        invoice_settings = InvoiceSettings(settings.department, settings.user_name, facts.accounts,
                                           read_nominal_codes(connection))
        with ledger.locked():
            result.recovered, _ = ledger.recover(settings.drop_folder)
            taken = ledger.files_named("amazon_orders_") | {p.name for p in settings.drop_folder.glob("*.csv")}
            file_name = import_file_name(run_id, taken)
            run_copy = output_dir / file_name
            paths = {"success": result.success_file, "fail": result.fail_file, "skipped": result.skipped_file}
            with RecordFiles(paths, "SalesOrders") as files, atomic_output(run_copy) as partial:
                writer = AuditTrailWriter(partial, header_row=settings.header_row)
                try:
                    export = _Export(result, settings, connection, ledger, files, writer, file_name, run_id,
                                     invoice_settings, facts)
                    batch = _Batch()
                    for element in iter_sales_order_elements(input_file):
                        export.read(element, batch)
                        if len(batch.orders) >= BATCH:
                            export.decide(batch)
                    export.decide(batch)
                finally:
                    writer.close()
                lines = writer.count
            if lines:
                _publish(run_copy, settings.drop_folder / file_name)
                ledger.mark_exported(file_name)
                result.import_file = settings.drop_folder / file_name
            else:
                run_copy.unlink()
            _check_waiting(ledger, connection, result, this_file=file_name, overdue_after=settings.overdue_after,
                           now=now)
        if result.overdue:
            _write_overdue(output_dir / OVERDUE_FILE, result.overdue)
    finally:
        ledger.close()
        with contextlib.suppress(Exception):  # a dead connection may not close cleanly; the cause matters
            connection.close()
    return result
