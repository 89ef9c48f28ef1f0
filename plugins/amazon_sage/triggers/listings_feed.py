"""Wait for submitted feeds in the triggerer, not in a worker slot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

TERMINAL = {"DONE", "FATAL", "CANCELLED"}
# Task instance states in which nothing waits for this trigger's event any more.
FINISHED_TI_STATES = {"success", "failed", "skipped", "upstream_failed", "removed"}


class ListingsFeedTrigger(BaseTrigger):
    """Poll getFeed for ``feed_ids`` every ``poll_interval`` seconds until each is DONE, FATAL or CANCELLED.

    Fires one event: ``{"status": "done", "feeds": {feed_id: getFeed answer}}``, or
    ``{"status": "error", "message": ...}`` when Amazon cannot be asked (after the hook's
    own retries), or ``{"status": "timeout", ...}`` after ``timeout`` seconds. It keeps no
    state beyond its arguments, so a restarted triggerer resumes on the same feeds.

    A trigger whose task instance has already finished fires ``{"status": "stale"}`` at once,
    without asking Amazon. Such leftovers come from ``airflow dags test`` / ``dag.test()``: the
    task defers (a trigger row is written), the trigger runs inline and the task finishes, but no
    triggerer ever deletes the row, so the first triggerer to start picks it up before its
    clean-up pass. A stale event resumes nothing (Airflow wakes only deferred task instances), and
    a genuinely deferred upload, whose task instance is still ``deferred``, waits as before.
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

    async def _finished_state(self) -> str | None:
        """The state of this trigger's task instance if it has finished; None while it waits, or if unknown."""
        ti = getattr(self, "task_instance", None)  # set by the triggerer; None when dag.test() runs us inline
        if ti is None:
            # In a triggerer (which sets trigger_id) a trigger without a task instance has nobody to resume.
            return "no task instance" if getattr(self, "trigger_id", None) is not None else None
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
        from asgiref.sync import sync_to_async

        try:
            states = await sync_to_async(RuntimeTaskInstance.get_task_states)(
                dag_id=ti.dag_id, task_ids=[ti.task_id], run_ids=[ti.run_id])
        except Exception as exc:  # cannot tell: wait on the feeds as always rather than drop a real wait
            self.log.warning("Could not read the state of %s: %s; waiting on the feeds", ti.task_id, exc)
            return None
        state = states.get(ti.run_id, {}).get(ti.task_id)
        return state if state in FINISHED_TI_STATES else None

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from amazon_sage.hooks.selling_partner import SellingPartnerHook

        finished = await self._finished_state()
        if finished:
            ti = self.task_instance
            self.log.info("Not waiting on feeds %s: %s of run %s has already finished (%s); this wait was left "
                          "over (e.g. by `airflow dags test`)", ", ".join(self.feed_ids),
                          getattr(ti, "task_id", "the task"), getattr(ti, "run_id", "?"), finished)
            yield TriggerEvent({"status": "stale", "state": finished})
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
