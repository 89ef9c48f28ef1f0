"""The time window a Download Orders run asks Amazon for.

A scheduled or backfill run takes its data interval, started a few minutes early to catch
Amazon's late updates (the import is idempotent, so overlap is harmless). A manual run is
Zynk's rolling Download From: it downloads from where the last successful run's window ended
(the first ever from ``DOWNLOAD_FROM``) up to now - 2 minutes, unless it names
``download_from``/``download_to``; an empty ``download_to`` then means now - 2 minutes too.
The upper bound is capped at now - 2 minutes (Amazon refuses later ones), and the lower bound
at two years ago (Amazon keeps no more).
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
    basis: str = ""  # where the start came from, in the seller's words (for the log)

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
                    overlap: timedelta = timedelta(0), now: datetime | None = None, manual: bool = False,
                    last_window_end: datetime | None = None, first_from: datetime | None = None) -> Window:
    """Return the window for a run; explicit ``download_from``/``download_to`` win over everything else.

    A scheduled or backfill run (``manual`` false) takes its interval, ``overlap`` early. A manual
    run starts at ``last_window_end`` (the end of the last successful window), or ``first_from``
    when no run has succeeded yet, and ends at now - 2 minutes. Raises ValueError, in words a
    seller can act on, when the window has no start or ends before it begins.
    """
    now = now or datetime.now(UTC)
    if download_from and download_to and download_to <= download_from:
        raise ValueError(f"'Download to' ({to_iso(download_to)}) must be later than 'Download from' "
                         f"({to_iso(download_from)}). Leave 'Download to' empty to download up to now.")
    if download_from:
        after, basis = download_from, "Download from, as given"
    elif manual:
        after = last_window_end or first_from
        basis = ("the end of the last successful window" if last_window_end
                 else "DOWNLOAD_FROM (no run has succeeded yet)")
    else:
        after = (interval_start - overlap) if interval_start else None
        basis = f"the run's interval, {int(overlap.total_seconds() // 60)} minutes early"
    before = download_to or (now if manual else interval_end or now)
    if after is None:
        raise ValueError("This run has no window start: it has no data interval and 'Download from' is empty. "
                         "Trigger it with a 'Download from' date, or as a manual run.")
    before = min(before, now - AMAZON_SETTLE - SAFETY)
    after = max(after, now - AMAZON_HISTORY)
    return Window(after=after.astimezone(UTC), before=before.astimezone(UTC), basis=basis)
