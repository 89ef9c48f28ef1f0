"""What every phase operator needs from the task context: its run's working folder and its counts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from amazon_sage import settings
from amazon_sage.core.counts import XCOM_KEY, PhaseCounts
from amazon_sage.core.run_folder import run_folder
from amazon_sage.core.run_notes import FAILED_RECORDS_KEY, failed_records


def run_folder_of(context: Any, *, create: bool = True) -> Path:
    """The private working folder of this DAG run, created on first use unless ``create`` is false."""
    return run_folder(settings.work_root(), context["dag"].dag_id, context["run_id"], create=create)


def push_counts(context: Any, counts: PhaseCounts) -> None:
    """Publish the phase's record counts: XCom key ``counts``, read by the archive and the run report."""
    context["ti"].xcom_push(key=XCOM_KEY, value=counts.as_dict())


def push_failed_records(context: Any, kind: str, failures: list[tuple[str, str]]) -> None:
    """Publish the ids of the records that failed (XCom key ``failed_records``), even when none did.

    The product's listener turns them into the task's and the run's note when the run finishes
    (:mod:`amazon_sage.core.run_notes`); an empty list clears a note an earlier try left.
    """
    context["ti"].xcom_push(key=FAILED_RECORDS_KEY, value=failed_records(kind, [record for record, _ in failures]))


def pull_counts(context: Any, task_id: str) -> dict[str, int] | None:
    """The counts ``task_id`` published in this run, or None if it published none."""
    return context["ti"].xcom_pull(task_ids=task_id, key=XCOM_KEY)


def as_list(value: Any) -> list[str]:
    """A Param that may arrive as a list or a comma-separated string, upper-cased."""
    if value is None or value == "None":
        return []
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    return [str(item).strip().upper() for item in items if str(item).strip()]
