"""Wait for a requested report in the triggerer, not in a worker slot (reports take minutes at Amazon)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import TriggerEvent

from amazon_sage.triggers.amazon_wait import AmazonWaitTrigger

TERMINAL = {"DONE", "FATAL", "CANCELLED"}


class AmazonReportTrigger(AmazonWaitTrigger):
    """Poll getReport for ``report_id`` until it is DONE, FATAL or CANCELLED: after 1, 2, 4 ... seconds, then every
    ``poll_interval`` seconds (getReport allows 2 calls a second, so the early polls cost nothing).

    Fires one event: ``{"status": "done", "report": getReport answer}`` (whatever its terminal status), or
    ``{"status": "error", "message": ...}`` when Amazon cannot be asked (after the hook's own retries), or
    ``{"status": "timeout", "message": ...}`` after ``timeout`` seconds, or ``{"status": "stale"}`` when its task
    instance has already finished. It keeps no state beyond its arguments, so a restarted triggerer resumes it.
    """

    def __init__(self, report_id: str, sp_api_conn_id: str, poll_interval: float = 30.0,
                 timeout: float | None = None):
        super().__init__()
        self.report_id = report_id
        self.sp_api_conn_id = sp_api_conn_id
        self.poll_interval = poll_interval
        self.timeout = timeout

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("amazon_sage.triggers.amazon_report.AmazonReportTrigger",
                {"report_id": self.report_id, "sp_api_conn_id": self.sp_api_conn_id,
                 "poll_interval": self.poll_interval, "timeout": self.timeout})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from amazon_sage.hooks.selling_partner import SellingPartnerHook

        stale = await self.stale_event(f"report {self.report_id}")
        if stale:
            yield stale
            return
        hook = SellingPartnerHook(self.sp_api_conn_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout if self.timeout else None
        pause = 1.0  # a small report is often ready within seconds: ask again after 1, 2, 4 ... s, up to the poll
        while True:
            try:
                report = await asyncio.to_thread(hook.get_report, self.report_id)
            except Exception as exc:  # the hook has already retried 429s and 5xx
                yield TriggerEvent({"status": "error", "message": f"getReport {self.report_id}: {exc}"})
                return
            if report.get("processingStatus") in TERMINAL:
                yield TriggerEvent({"status": "done", "report": report})
                return
            if deadline is not None and loop.time() >= deadline:
                yield TriggerEvent({"status": "timeout", "message": f"report {self.report_id} was still "
                                    f"{report.get('processingStatus')} after {self.timeout:.0f} s"})
                return
            await asyncio.sleep(min(pause, self.poll_interval))
            pause *= 2
