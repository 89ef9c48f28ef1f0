"""Archive Workflow Data: zip the run's working folder into the archive, then apply retention."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

from amazon_sage import settings
from amazon_sage.core.counts import PhaseCounts
from amazon_sage.operators.run_context import pull_counts, push_counts, run_folder_of


class ArchiveWorkflowDataOperator(BaseOperator):
    """Zip, encrypt and verify the run folder (with a manifest of files and counts), delete it, apply retention.

    Use with ``trigger_rule="none_failed"``: when a phase failed, its files stay in place so
    that phase can be retried alone. Returns the archive's URI (a path or ``s3://...``). An
    outage of the store during retention is a warning (counts detail ``retention_postponed``),
    not a failure: the archive is stored, and the next run applies retention.
    """

    ui_color = "#d9d9d9"

    def __init__(self, *, destination: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.destination = destination

    def execute(self, context: Any) -> str:
        from amazon_sage.core.archive.run_archive import (
            ArchiveError,
            RetentionPostponed,
            apply_retention,
            archive_run,
        )
        from amazon_sage.hooks.archive_destination import archive_keyring, open_archive_store

        dag = context["dag"]
        upstream = [task_id for task_id in dag.task_ids if task_id != self.task_id]
        counts = {task_id: value for task_id in upstream if (value := pull_counts(context, task_id)) is not None}
        try:
            store = open_archive_store(self.destination)
            uri, manifest = archive_run(run_folder_of(context, create=False), store, keys=archive_keyring,
                                        dag_id=dag.dag_id, run_id=context["run_id"],
                                        run_started=context["dag_run"].run_after, counts=counts)
        except ArchiveError as exc:
            raise AirflowException(f"{exc} The run's working files are kept; clear this task to retry.") from None
        self.log.info("Archived the run's files to %s", uri)
        # Retention is housekeeping: the run's archive is stored and verified by now, so an outage of the store
        # only postpones it to the next run (a warning, not a failed run); a refusal or a bad policy needs a person.
        postponed = 0
        try:
            deleted = apply_retention(store, dag.dag_id, settings.get("ARCHIVE_RETENTION"),
                                      settings.get_int("ARCHIVE_RETENTION_NUMBER"))
        except RetentionPostponed as exc:
            self.log.warning("%s The run's archive is stored at %s; retention runs again with the next run.", exc, uri)
            deleted, postponed = exc.deleted, 1
        except ArchiveError as exc:
            raise AirflowException(f"{exc} The run's archive is stored at {uri}; fix the cause and clear this task "
                                   "to apply retention again.") from None
        if deleted:
            self.log.info("Retention removed %d old archive(s): %s", len(deleted), ", ".join(a.name for a in deleted))
        files = len(manifest.get("files", []))
        push_counts(context, PhaseCounts(files, 1, details={"deleted_by_retention": len(deleted),
                                                            "retention_postponed": postponed}))
        self.log.info("Archive Workflow Data summary: %d files in, 1 archive out (%s), %d old archive(s) removed by "
                      "retention%s", files, uri, len(deleted), ", retention postponed" if postponed else "")
        return uri
