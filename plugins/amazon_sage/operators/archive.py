"""Archive Workflow Data: zip the run's working folder into the archive and remove it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

from amazon_sage import settings
from amazon_sage.core.archive import ArchiveError, archive_run_folder
from amazon_sage.operators.run_context import run_folder_of


class ArchiveWorkflowDataOperator(BaseOperator):
    """Zip and verify the run folder, then delete it; return the archive's path.

    Use with ``trigger_rule="none_failed"``: when a phase failed, its files stay in place
    so that phase can be retried alone.
    """

    ui_color = "#d9d9d9"

    def __init__(self, *, destination: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.destination = destination

    def execute(self, context: Any) -> str:
        destination = Path(self.destination or settings.archive_destination())
        try:
            archive = archive_run_folder(run_folder_of(context), destination,
                                         dag_id=context["dag"].dag_id, run_id=context["run_id"])
        except ArchiveError as exc:
            raise AirflowException(str(exc)) from None
        self.log.info("Archived the run's files to %s", archive)
        return str(archive)
