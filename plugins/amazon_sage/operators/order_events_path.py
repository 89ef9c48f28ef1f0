"""The ORDER_CHANGE notification path as a task: subscribe, check or unsubscribe (the CLI's actions)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException


class AmazonOrderEventsPathOperator(BaseOperator):
    """Run ``python -m amazon_sage.cli.order_events <action>`` in a task; fail with the problems it finds."""

    template_fields: Sequence[str] = ("action",)
    ui_color = "#ff9900"

    def __init__(self, *, action: str = "check", sp_api_conn_id: str | None = None,
                 aws_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.action, self.sp_api_conn_id, self.aws_conn_id = action, sp_api_conn_id, aws_conn_id

    def execute(self, context: Any) -> list[str]:
        from amazon_sage.cli.order_events import run

        status, lines = run(str(self.action), sp_api_conn_id=self.sp_api_conn_id, aws_conn_id=self.aws_conn_id)
        for line in lines:
            self.log.info("%s", line)
        if status is not None and not status.ok:
            raise AirflowException("The ORDER_CHANGE notification path is not whole: " + "; ".join(status.problems))
        return lines
