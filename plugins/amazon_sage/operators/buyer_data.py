"""Remove Expired Buyer Data: archives rewritten without buyer PII once PII_RETENTION_DAYS have passed."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

from amazon_sage import settings
from amazon_sage.core.counts import PhaseCounts
from amazon_sage.operators.run_context import push_counts


class RemoveExpiredBuyerDataOperator(BaseOperator):
    """Go through every DAG's archives; rewrite those whose buyer data is due without it, encrypt plain zips.

    Counts: ``in`` archives rewritten or due, ``out`` rewritten, ``failed`` archives that could not be
    rewritten with certainty (each left as it was, named in the log and the failure), ``skipped`` not
    yet due; details ``encrypted`` (plain zips from before encryption, now encrypted). An outage or a
    missing key fails the task (it retries); whatever was rewritten before stays rewritten.
    """

    ui_color = "#d9d9d9"

    def __init__(self, *, destination: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.destination = destination

    def execute(self, context: Any) -> dict[str, int]:
        from amazon_sage.core.archive.pii_retention import ArchiveError, BuyerDataOutcome, remove_expired_buyer_data
        from amazon_sage.hooks.archive_destination import archive_keyring, open_archive_store

        days = settings.get_int("PII_RETENTION_DAYS")
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
                             details={"encrypted": len(total.encrypted)})
        push_counts(context, counts)
        self.log.info("Buyer data: %d archive(s) rewritten without it, %d encrypted, %d not yet due (%d days)",
                      len(total.removed), len(total.encrypted), total.not_due, days)
        if failures:
            raise AirflowException("Buyer data could not be removed from every archive due: " + " | ".join(failures))
        return counts.as_dict()
