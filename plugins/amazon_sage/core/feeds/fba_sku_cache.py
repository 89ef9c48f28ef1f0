"""The last good FBA inventory report, kept as a small private file in the work root.

The file holds SKUs and times only (no buyer data), is written atomically with mode 0600, and is replaced only
by a report that was read in full (or by Amazon's CANCELLED, which for this report means no FBA inventory). A
failed refresh leaves it as it was, so a later inventory run still keeps the SKUs that were FBA in the last good
report away from seller-fulfilled quantities. A failed refresh is noted beside it
(``.fba_inventory_report_failed.json``: when, and what failed), so that the next runs do not ask Amazon again
before :func:`retry_after` has passed. Plain Python: no Airflow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from amazon_sage.core.files import atomic_output, private_dir

FAILURE_NAME = ".fba_inventory_report_failed.json"
# After a failed refresh, Amazon is asked again after this long (or FBA_SKUS_REPORT_HOURS, if shorter): a report
# stuck in Amazon's queue must not hold up every 15-minute inventory run for the whole wait.
RETRY_AFTER_FAILURE = timedelta(hours=1)
CACHE_NAME = ".fba_inventory_report.json"  # product state, beside the feed registry (core.work_folders)


@dataclass(frozen=True)
class FbaSkuCache:
    """The FBA SKUs of the report Amazon made at ``fetched_at`` (UTC), and that report's id."""

    skus: frozenset[str]
    fetched_at: datetime
    report_id: str

    def age(self, now: datetime) -> timedelta:
        return now - self.fetched_at

    def is_fresh(self, now: datetime, hours: float) -> bool:
        """Younger than ``hours``: no new report is needed yet."""
        return self.age(now) < timedelta(hours=hours)

    def as_of(self) -> str:
        """When the report was read, as a seller reads it (``2026-12-02 04:40 UTC``)."""
        return self.fetched_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def cache_path(work_root: Path) -> Path:
    return work_root / CACHE_NAME


def read_cache(path: Path) -> FbaSkuCache | None:
    """The cached report, or None when there is none or it cannot be read (then it counts as never fetched)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return FbaSkuCache(frozenset(str(sku) for sku in data["skus"]),
                           datetime.fromisoformat(data["fetched_at"]).astimezone(UTC), str(data["report_id"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_cache(path: Path, cache: FbaSkuCache) -> None:
    private_dir(path.parent)
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps({"fetched_at": cache.fetched_at.astimezone(UTC).isoformat(),
                                   "report_id": cache.report_id, "skus": sorted(cache.skus)}, indent=1),
                       encoding="utf-8")


def xslt_sku_list(skus: frozenset[str] | set[str]) -> str:
    """The mapping's form of a SKU set: ``;SKU;SKU;`` (empty for none), as ``FBASkus`` takes it."""
    return (";" + ";".join(sorted(skus)) + ";") if skus else ""


def failure_path(work_root: Path) -> Path:
    return work_root / FAILURE_NAME


def retry_after(hours: float) -> timedelta:
    """How long after a failed refresh the next one may ask Amazon: an hour, or the refresh period if shorter."""
    return min(RETRY_AFTER_FAILURE, timedelta(hours=hours))


def last_failure(path: Path) -> datetime | None:
    """When the last refresh failed, if it did (the note is gone after a good report); None if unreadable."""
    try:
        return datetime.fromisoformat(json.loads(path.read_text(encoding="utf-8"))["failed_at"]).astimezone(UTC)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def note_failure(path: Path, when: datetime, problem: str) -> None:
    private_dir(path.parent)
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps({"failed_at": when.astimezone(UTC).isoformat(), "problem": problem[:500]}),
                       encoding="utf-8")


def clear_failure(path: Path) -> None:
    path.unlink(missing_ok=True)
