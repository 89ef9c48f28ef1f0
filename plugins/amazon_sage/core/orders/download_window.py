"""The time window a Download Orders run asks Amazon for.

A scheduled or backfill run takes its data interval, started a few minutes early to catch
Amazon's late updates (the import is idempotent, so overlap is harmless). A manual run may
name ``download_from``/``download_to`` instead. The upper bound is capped at now - 2 minutes
(Amazon refuses later ones), and the lower bound at two years ago (Amazon keeps no more).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

AMAZON_SETTLE = timedelta(minutes=2)
SAFETY = timedelta(seconds=10)
AMAZON_HISTORY = timedelta(days=730)


@dataclass(frozen=True)
class Window:
    after: datetime
    before: datetime

    @property
    def empty(self) -> bool:
        return self.after >= self.before

    def iso(self) -> dict[str, str]:
        return {"lastUpdatedAfter": to_iso(self.after), "lastUpdatedBefore": to_iso(self.before)}


def to_iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_instant(value: str | datetime | None) -> datetime | None:
    """Parse a Param value: ISO date or date-time; naive values are UTC; '', 'None' -> None."""
    if value is None or isinstance(value, datetime):
        return value.replace(tzinfo=value.tzinfo or UTC) if value else None
    text = str(value).strip()
    if text in {"", "None", "null"}:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO date or date-time "
                         "(e.g. 2026-11-01 or 2026-11-01T09:00:00Z)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def download_window(*, interval_start: datetime | None, interval_end: datetime | None,
                    download_from: datetime | None = None, download_to: datetime | None = None,
                    overlap: timedelta = timedelta(0), now: datetime | None = None) -> Window:
    """Return the window for a run; explicit ``download_from``/``download_to`` win over the interval."""
    now = now or datetime.now(UTC)
    after = download_from or ((interval_start - overlap) if interval_start else None)
    before = download_to or interval_end or now
    if after is None:
        raise ValueError("no window start: the run has no data interval and download_from is not set")
    before = min(before, now - AMAZON_SETTLE - SAFETY)
    after = max(after, now - AMAZON_HISTORY)
    return Window(after=after.astimezone(UTC), before=before.astimezone(UTC))
