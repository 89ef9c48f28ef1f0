"""The note a run with failed records carries in Airflow: "2 orders failed: 202-…, 202-…".

A phase whose records partly fail still succeeds (retries and the archive work as for any
success), so Airflow would show the run green. Each such phase publishes its failed record ids
(XCom key :data:`FAILED_RECORDS_KEY`, built by :func:`failed_records`); when the run finishes,
the product's listener writes :func:`phase_note` on that task instance and :func:`run_note` on
the run, where the run list, the grid and the run's page show them.

A note a person wrote is never replaced: the product only rewrites a note that is empty or is
one of its own (:func:`is_product_note`), so a retried phase that now imports everything clears
its old note, and a seller's own remark stays.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

FAILED_RECORDS_KEY = "failed_records"
NOTE_IDS = 5  # ids a note names before "and N more"; the fail file and the log list them all
KEPT_IDS = 50  # ids a phase publishes, as many as its log lists
_PRODUCT_NOTE = re.compile(r"^(Completed with errors: )?\d+ \w+ failed\b")


def failed_records(kind: str, ids: Sequence[str]) -> dict[str, Any]:
    """The XCom value a phase publishes: ``{"kind": "orders", "count": N, "ids": [first KEPT_IDS ids]}``."""
    return {"kind": kind, "count": len(ids), "ids": list(ids[:KEPT_IDS])}


def _noun(kind: str, count: int) -> str:
    return kind if count != 1 else kind.removesuffix("s")


def phase_note(value: Mapping[str, Any]) -> str | None:
    """``"2 orders failed: 202-…, 202-…"`` for one phase's published value; None when nothing failed."""
    count = int(value.get("count", 0))
    if count <= 0:
        return None
    ids = [str(record_id) for record_id in value.get("ids", [])][:NOTE_IDS]
    text = f"{count} {_noun(str(value.get('kind', 'records')), count)} failed"
    if ids:
        text += ": " + ", ".join(ids) + (f" and {count - len(ids)} more" if count > len(ids) else "")
    return text


def run_note(phases: Iterable[tuple[str, Mapping[str, Any]]]) -> str | None:
    """The run's note from ``(phase title, published value)`` pairs; None when no record failed.

    ``Completed with errors: 2 orders failed: 202-…, 202-… (Import Sales Orders). See the fail file.``
    """
    parts = [f"{note} ({title})" for title, value in phases if (note := phase_note(value))]
    if not parts:
        return None
    return ("Completed with errors: " + "; ".join(parts)
            + ". The fail file and the task's log give each reason; fix the cause, then clear that task.")


def is_product_note(text: str | None) -> bool:
    """True when the product may replace this note: it is empty or one the product wrote."""
    return not text or bool(_PRODUCT_NOTE.match(text))
