"""The buyer-data housekeeping DAG: archives rewritten without buyer PII once it is no longer needed."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG

from amazon_sage.dag_factories.defaults import dag_arguments
from amazon_sage.operators.buyer_data import RemoveExpiredBuyerDataOperator

DOC = """
### Buyer data housekeeping

**Remove Expired Buyer Data**, daily by default: Amazon's Data Protection Policy keeps buyer PII only as long
as needed.

* Every archive of every DAG whose orders shipped (or, where no ship date is known, were placed) more than
  `PII_RETENTION_DAYS` ago is rewritten without buyer PII: names, e-mails, phones, address lines, towns,
  delivery instructions and gift messages go; order ids, dates, SKUs, quantities, amounts, VAT, Sage numbers,
  the postcode area and the country stay. The rewrite is verified against the archive's bookkeeping, encrypted
  with the current key and replaces the archive atomically. Archives already past retention are handled on the
  first run; a run that stops half-way leaves each archive whole, old or new, and the next run carries on.
* Plain zips from before archives were encrypted are encrypted on the way.
* First, failed runs' work folders (`<work root>/<dag>/<run>/`, kept for a retry) unchanged for `PII_RETENTION_DAYS`
  are removed, except those of a DAG with a run queued or running (they wait for the next pass). Their orders are
  still on Amazon: a new run of the window downloads them again.
* `ARCHIVE_RETENTION` (whole archives, in each DAG's archive task) is unchanged.
* **Retry:** clear the task; an archive it could not rewrite with certainty is left as it was and named in the
  log.
* **Settings** (environment variables `AMAZON_SAGE_*`, listed in the README): `PII_RETENTION_DAYS`,
  `BUYER_DATA_SCHEDULE`, `ARCHIVE_DESTINATION`, `ARCHIVE_KEY_CONN_ID`. Connection: `amazon_sage_archive_key`.
"""


def buyer_data_dag() -> DAG:
    """``amazon_sage_buyer_data``: expired buyer data out of every archive, and expired failed runs' folders removed."""
    with DAG(
        dag_id="amazon_sage_buyer_data",
        description="After PII_RETENTION_DAYS: archives rewritten without buyer PII, failed runs' folders removed",
        doc_md=DOC,
        **dag_arguments(schedule_setting="BUYER_DATA_SCHEDULE", tags=["housekeeping"], run_timeout=timedelta(hours=12),
                        task_timeout=timedelta(hours=10)),
    ) as dag:
        RemoveExpiredBuyerDataOperator(
            task_id="remove_expired_buyer_data",
            task_display_name="Remove Expired Buyer Data",
            doc="Remove failed runs' work folders older than PII_RETENTION_DAYS; rewrite every archive whose buyer "
                "data is past it without it, verified, atomically.",
        )
    return dag
