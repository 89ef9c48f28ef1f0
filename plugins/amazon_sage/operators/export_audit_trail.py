"""Export Audit Trail: Zynk XML sales orders -> a Sage 50 audit-trail import file (SAGE_POSTING=audit_trail)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

from amazon_sage import settings
from amazon_sage.core.counts import IMPORT_FILE_KEY
from amazon_sage.operators.run_context import as_list, push_counts, push_failed_records, run_folder_of

MAX_LISTED = 50


class Sage50ExportAuditTrailOperator(BaseOperator):
    """Write each postable order once, as a sales invoice, to an import file for Sage's audit-trail import.

    Reads Sage (read-only) for what it already holds and the product's ledger for what was
    exported before; never writes to Sage. Orders Sage would refuse go to the fail file, orders
    already posted or exported to the skipped file. The task fails only when the phase cannot
    work (unreadable input, Sage unreachable, bad settings). Returns the success file's path;
    XCom keys ``import_file`` (the file in the drop folder, or None), ``fail_file``,
    ``skipped_file`` and ``counts`` carry the rest.
    """

    template_fields: Sequence[str] = ("input_file", "import_statuses")
    ui_color = "#00b050"

    def __init__(self, *, input_file: str, sage_conn_id: str | None = None, import_statuses: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.input_file = input_file
        self.sage_conn_id = sage_conn_id
        self.import_statuses = import_statuses

    def execute(self, context: Any) -> str:
        import pyodbc

        from amazon_sage.core.sage.audit_trail.export import ExportSettings, export_audit_trail
        from amazon_sage.core.xml_files import XmlFileError
        from amazon_sage.hooks.sage50 import Sage50Hook
        from amazon_sage.notifiers.seller_alert import notify_failed_records

        hook = Sage50Hook(self.sage_conn_id)
        try:
            export_settings = ExportSettings(
                drop_folder=settings.audit_trail_drop_folder(), ledger_path=settings.audit_trail_ledger(),
                import_statuses=set(as_list(self.import_statuses) or settings.get_list("ORDER_STATUSES")),
                department=settings.get_int("AUDIT_TRAIL_DEPARTMENT"), user_name=settings.get("TAKEN_BY"),
                header_row=settings.get_bool("AUDIT_TRAIL_HEADER_ROW"),
                overdue_after=timedelta(hours=settings.get_int("AUDIT_TRAIL_OVERDUE_HOURS")))
            result = export_audit_trail(Path(self.input_file), run_folder_of(context), hook.connect, export_settings,
                                        run_id=context["run_id"])
        except (XmlFileError, ValueError) as exc:
            raise AirflowException(str(exc)) from None
        except pyodbc.Error as exc:
            raise hook.explain(exc) from None
        ti = context["ti"]
        ti.xcom_push(key=IMPORT_FILE_KEY, value=str(result.import_file) if result.import_file else None)
        ti.xcom_push(key="fail_file", value=str(result.fail_file))
        ti.xcom_push(key="skipped_file", value=str(result.skipped_file))
        counts = result.counts()
        push_counts(context, counts)
        for file in result.recovered:
            self.log.info("Recovered %s: an earlier export put it in the drop folder before it stopped", file)
        for order_id, error in result.failures[:MAX_LISTED]:
            self.log.warning("Failed order %s: %s", order_id, error)
        for order_id, message in result.attention_orders:
            self.log.warning("NEEDS ATTENTION: order %s: %s", order_id, message)
        for entry in result.overdue[:MAX_LISTED]:
            self.log.warning("NEEDS ATTENTION: order %s was exported in %s on %s UTC and is still not in Sage: "
                             "file not imported?", entry.reference, entry.file, f"{entry.exported_at:%d/%m/%Y %H:%M}")
        push_failed_records(context, "orders", result.failures)  # the run's note in Airflow
        notify_failed_records(context, "orders", result.failures, counts)
        if result.import_file:
            self.log.info("Import file for Sage: %s. In Sage: File > Import > Audit trail transactions.",
                          result.import_file)
        self.log.info("Export Audit Trail summary: %d in, %d exported, %d failed, %d skipped (%d already in Sage or "
                      "exported), %d need attention; earlier exports: %d now in Sage, %d awaiting import "
                      "(%d overdue)", counts.records_in, counts.records_out, counts.failed, counts.skipped,
                      result.duplicates, result.attention, result.confirmed, result.awaiting_import,
                      len(result.overdue))
        return str(result.success_file)
