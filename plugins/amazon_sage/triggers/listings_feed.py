"""Wait for submitted feeds in the triggerer, not in a worker slot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import TriggerEvent

from amazon_sage.triggers.amazon_wait import AmazonWaitTrigger

TERMINAL = {"DONE", "FATAL", "CANCELLED"}


class ListingsFeedTrigger(AmazonWaitTrigger):
    """Poll getFeed for ``feed_ids`` every ``poll_interval`` seconds until each is DONE, FATAL or CANCELLED.

    Fires one event: ``{"status": "done", "feeds": {feed_id: getFeed answer}}``, or
    ``{"status": "error", "message": ...}`` when Amazon cannot be asked (after the hook's
    own retries), or ``{"status": "timeout", ...}`` after ``timeout`` seconds. It keeps no
    state beyond its arguments, so a restarted triggerer resumes on the same feeds.

    A trigger whose task instance has already finished fires ``{"status": "stale"}`` at once,
    without asking Amazon (see :class:`AmazonWaitTrigger`).
    """

    def __init__(self, feed_ids: list[str], sp_api_conn_id: str, poll_interval: float = 30.0,
                 timeout: float | None = None):
        super().__init__()
        self.feed_ids = list(feed_ids)
        self.sp_api_conn_id = sp_api_conn_id
        self.poll_interval = poll_interval
        self.timeout = timeout

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("amazon_sage.triggers.listings_feed.ListingsFeedTrigger",
                {"feed_ids": self.feed_ids, "sp_api_conn_id": self.sp_api_conn_id,
                 "poll_interval": self.poll_interval, "timeout": self.timeout})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from amazon_sage.hooks.selling_partner import SellingPartnerHook

        stale = await self.stale_event(f"feeds {', '.join(self.feed_ids)}")
        if stale:
            yield stale
            return
        hook = SellingPartnerHook(self.sp_api_conn_id)
        pending = list(self.feed_ids)
        finished: dict[str, dict[str, Any]] = {}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout if self.timeout else None
        while pending:
            for feed_id in list(pending):
                try:
                    feed = await asyncio.to_thread(hook.get_feed, feed_id)
                except Exception as exc:  # the hook has already retried 429s and 5xx
                    yield TriggerEvent({"status": "error", "message": f"getFeed {feed_id}: {exc}"})
                    return
                if feed.get("processingStatus") in TERMINAL:
                    finished[feed_id] = feed
                    pending.remove(feed_id)
            if not pending:
                break
            if deadline is not None and loop.time() >= deadline:
                yield TriggerEvent({"status": "timeout", "feeds": finished, "pending": pending})
                return
            await asyncio.sleep(self.poll_interval)
        yield TriggerEvent({"status": "done", "feeds": finished})
