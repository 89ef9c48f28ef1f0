"""What the product's triggers share: telling a real wait from one left over by ``dag.test()``."""

from __future__ import annotations

from airflow.triggers.base import BaseTrigger, TriggerEvent

# Task instance states in which nothing waits for a trigger's event any more.
FINISHED_TI_STATES = {"success", "failed", "skipped", "upstream_failed", "removed"}


class AmazonWaitTrigger(BaseTrigger):
    """A trigger that waits on Amazon, and first checks that its task instance still waits for it.

    Leftovers come from ``airflow dags test`` / ``dag.test()``: the task defers (a trigger row is written), the
    trigger runs inline and the task finishes, but no triggerer ever deletes the row, so the first triggerer to
    start picks it up before its clean-up pass. :meth:`stale_event` gives such a trigger the event to fire at
    once, without asking Amazon; it resumes nothing (Airflow wakes only deferred task instances), and a genuinely
    deferred task, whose task instance is still ``deferred``, waits as before.
    """

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
        except Exception as exc:  # cannot tell: wait as always rather than drop a real wait
            self.log.warning("Could not read the state of %s: %s; waiting on Amazon", ti.task_id, exc)
            return None
        state = states.get(ti.run_id, {}).get(ti.task_id)
        return state if state in FINISHED_TI_STATES else None

    async def stale_event(self, waiting_on: str) -> TriggerEvent | None:
        """``{"status": "stale"}`` when nobody waits for this trigger any more (logged); None for a real wait."""
        finished = await self._finished_state()
        if not finished:
            return None
        ti = getattr(self, "task_instance", None)
        self.log.info("Not waiting on %s: %s of run %s has already finished (%s); this wait was left over "
                      "(e.g. by `airflow dags test`)", waiting_on, getattr(ti, "task_id", "the task"),
                      getattr(ti, "run_id", "?"), finished)
        return TriggerEvent({"status": "stale", "state": finished})
