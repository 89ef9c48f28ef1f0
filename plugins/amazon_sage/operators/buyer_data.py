"""Remove Expired Buyer Data: archives rewritten without buyer PII once PII_RETENTION_DAYS have passed, and
failed runs' work folders of that age removed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

from amazon_sage import settings
from amazon_sage.core.counts import PhaseCounts
from amazon_sage.operators.run_context import push_counts

if TYPE_CHECKING:
    from amazon_sage.core.work_folders import ExpiredFolders


class RemoveExpiredBuyerDataOperator(BaseOperator):
    """Go through every DAG's archives; rewrite those whose buyer data is due without it, encrypt plain zips.

    First, the work root's run folders unchanged for PII_RETENTION_DAYS (a failed run's files, kept for a
    retry that never came) are removed, except those of a DAG that has a run queued or running (asked of
    Airflow per DAG; they wait for a later pass): :mod:`amazon_sage.core.work_folders`.

    Counts: ``in`` archives rewritten or due, ``out`` rewritten, ``failed`` archives that could not be
    rewritten with certainty (each left as it was, named in the log and the failure), ``skipped`` not
    yet due; details ``encrypted`` (plain zips from before encryption, now encrypted),
    ``work_folders_removed`` and ``work_folders_postponed``. An outage or a missing key fails the task
    (it retries); whatever was rewritten or removed before stays so.
    """

    ui_color = "#d9d9d9"

    def __init__(self, *, destination: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.destination = destination

    def execute(self, context: Any) -> dict[str, int]:
        from amazon_sage.core.archive.pii_retention import ArchiveError, BuyerDataOutcome, remove_expired_buyer_data
        from amazon_sage.hooks.archive_destination import archive_keyring, open_archive_store

        days = settings.get_int("PII_RETENTION_DAYS")
        folders = self._remove_expired_folders(context, days)
        total, failures = BuyerDataOutcome(), []
        try:
            store = open_archive_store(self.destination)
            dags = store.dags()
        except ArchiveError as exc:
            raise AirflowException(f"{exc} No archive was changed; clear this task to retry.") from None
        for dag_id in dags:
            try:
                outcome = remove_expired_buyer_data(store, dag_id, archive_keyring, days)
            except ArchiveError as exc:  # a missing key, an outage: this DAG's archives wait, the others get their turn
                failures.append(f"{dag_id}: {exc}")
                continue
            failures += [f"{dag_id}: {message}" for message in outcome.failed]
            for message in outcome.failed:
                self.log.error("%s", message)
            for name in outcome.removed:
                self.log.info("Removed buyer data from %s/%s", dag_id, name)
            for name in outcome.encrypted:
                self.log.info("Encrypted %s/%s (written before archives were encrypted)", dag_id, name)
            total.removed += outcome.removed
            total.encrypted += outcome.encrypted
            total.not_due += outcome.not_due
        counts = PhaseCounts(len(total.removed) + len(failures), len(total.removed), len(failures), total.not_due,
                             details={"encrypted": len(total.encrypted), "work_folders_removed": len(folders.removed),
                                      "work_folders_postponed": len(folders.postponed)})
        push_counts(context, counts)
        self.log.info("Buyer data: %d archive(s) rewritten without it, %d encrypted, %d not yet due (%d days)",
                      len(total.removed), len(total.encrypted), total.not_due, days)
        if failures:
            raise AirflowException("Buyer data could not be removed from every archive due: " + " | ".join(failures))
        return counts.as_dict()

    def _remove_expired_folders(self, context: Any, days: int) -> ExpiredFolders:
        """Remove the run folders unchanged for ``days`` days of DAGs without a run in progress; log each."""
        from amazon_sage.core.work_folders import remove_expired_folders

        def busy(dag_id: str) -> bool:
            # The Task SDK's count of this DAG's runs in progress (a task may not read the database itself).
            return context["ti"].get_dr_count(dag_id=dag_id, states=["queued", "running"]) > 0

        outcome = remove_expired_folders(settings.work_root(), days, busy)
        for name in outcome.removed:
            self.log.info("Removed work folder %s (unchanged for %d days: its buyer data expired)", name, days)
        for name in outcome.postponed:
            self.log.info("Work folder %s is due for removal; left for the next pass, as its DAG has a run in "
                          "progress", name)
        return outcome
