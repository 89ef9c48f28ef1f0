"""The last good FBA inventory report, kept as a small private file in the work root.

The file holds SKUs and times only (no buyer data), is written atomically with mode 0600, and is replaced only
by a report that was read in full (or by Amazon's CANCELLED, which for this report means no FBA inventory). A
failed refresh leaves it as it was, so a later inventory run still keeps the SKUs that were FBA in the last good
report away from seller-fulfilled quantities. Plain Python: no Airflow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from amazon_sage.core.files import atomic_output, private_dir

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
