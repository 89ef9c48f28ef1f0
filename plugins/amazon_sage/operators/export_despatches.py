"""Export Despatches: Sage 50 sales orders despatched in the run's window -> ``zynk_despatches.xml``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

from amazon_sage import settings
from amazon_sage.core.counts import PhaseCounts
from amazon_sage.operators.run_context import push_counts, run_folder_of

OUTPUT_FILE = "zynk_despatches.xml"


class Sage50ExportDespatchesOperator(BaseOperator):
    """Write the Sage orders despatched (in full or in part) and modified in the window as Zynk XML.

    The window is ``despatched_from``/``despatched_to`` when given (the trigger form), else the
    run's data interval started ``DESPATCH_WINDOW_OVERLAP_MINUTES`` early. What counts as
    despatched is ``DESPATCHED_STATUSES``. No despatches is a success with an empty document; the
    later tasks then skip. Returns the file's path; XCom key ``counts`` has ``out``, the orders.
    """

    template_fields: Sequence[str] = ("despatched_from", "despatched_to")
    ui_color = "#00b050"

    def __init__(self, *, despatched_from: str | None = None, despatched_to: str | None = None,
                 sage_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.despatched_from = despatched_from
        self.despatched_to = despatched_to
        self.sage_conn_id = sage_conn_id

    def execute(self, context: Any) -> str:
        import pyodbc

        from amazon_sage.core.orders.download_window import parse_instant
        from amazon_sage.core.sage.despatch_export import DespatchExportError, despatched_statuses, export_despatches
        from amazon_sage.hooks.sage50 import Sage50Hook

        overlap = timedelta(minutes=settings.get_int("DESPATCH_WINDOW_OVERLAP_MINUTES"))
        try:
            start = parse_instant(self.despatched_from) or context["data_interval_start"] - overlap
            end = parse_instant(self.despatched_to) or context["data_interval_end"]
            statuses = despatched_statuses(settings.get("DESPATCHED_STATUSES"))
        except (ValueError, DespatchExportError) as exc:
            raise AirflowException(str(exc)) from None
        hook = Sage50Hook(self.sage_conn_id)
        output = run_folder_of(context) / OUTPUT_FILE
        connection = hook.connect()
        try:
            count = export_despatches(connection, output, start=start, end=end, statuses=statuses)
        except pyodbc.Error as exc:
            raise hook.explain(exc) from None
        finally:
            connection.close()
        push_counts(context, PhaseCounts(count, count))
        self.log.info("Export Despatches summary: %d orders despatched (DESPATCH_STATUS %s) and changed from %s to %s",
                      count, "/".join(sorted(statuses)), start, end)
        return str(output)
