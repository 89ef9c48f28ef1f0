"""Confirm Shipments: mapped Sage despatches -> Amazon ``confirmShipment`` (Orders v0), once per despatched unit."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

from amazon_sage.operators.run_context import push_counts, push_failed_records, run_folder_of

MAX_LISTED = 50


class AmazonConfirmShipmentsOperator(BaseOperator):
    """Confirm each despatch to Amazon with what Amazon does not yet count as shipped; write success/fail/skipped.

    Every record starts from ``getOrder``, so retries and reruns never confirm a unit twice.
    FBA, cancelled, already shipped and non-Amazon orders are skipped with the reason; Amazon's
    refusals go to the fail file with its message. The task fails when Amazon's answer to a
    confirmation was lost and Amazon does not show the package yet: its retry reads Amazon again
    before sending. Returns the success file's path; XCom keys ``fail_file``, ``skipped_file``,
    ``confirmations`` and ``counts`` (with ``units`` confirmed) carry the rest.
    """

    template_fields: Sequence[str] = ("input_file",)
    ui_color = "#ff9900"

    def __init__(self, *, input_file: str, sp_api_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.input_file = input_file
        self.sp_api_conn_id = sp_api_conn_id

    def execute(self, context: Any) -> str:
        from amazon_sage.core.shipments.confirm_shipments import confirm_shipments
        from amazon_sage.core.xml_files import XmlFileError
        from amazon_sage.hooks.selling_partner import SellingPartnerHook
        from amazon_sage.notifiers.seller_alert import notify_failed_records

        try:
            result = confirm_shipments(Path(self.input_file), run_folder_of(context),
                                       SellingPartnerHook(self.sp_api_conn_id))
        except XmlFileError as exc:
            raise AirflowException(str(exc)) from None
        ti = context["ti"]
        ti.xcom_push(key="fail_file", value=str(result.fail_file))
        ti.xcom_push(key="skipped_file", value=str(result.skipped_file))
        ti.xcom_push(key="confirmations", value=result.confirmations)
        counts = result.counts()
        push_counts(context, counts)
        for confirmation in result.confirmations:
            self.log.info("Confirmed order %s package %s: %s", confirmation["orderId"],
                          confirmation["packageReferenceId"],
                          ", ".join(f"{sku} x{units}" for sku, units in confirmation["items"].items()))
        for order_id, error in result.failures[:MAX_LISTED]:
            self.log.warning("Failed shipment %s: %s", order_id, error)
        push_failed_records(context, "shipments", result.failures)  # the run's note in Airflow
        notify_failed_records(context, "shipments", result.failures, counts)
        self.log.info("Confirm Shipments summary: %d in, %d confirmed (%d units), %d failed, %d skipped",
                      counts.records_in, counts.records_out, result.units, counts.failed, counts.skipped)
        if result.unsettled:
            raise AirflowException(
                f"Amazon's answer to the confirmation of {len(result.unsettled)} order(s) was lost and Amazon does not "
                f"show their packages yet ({', '.join(result.unsettled[:10])}). Nothing was sent twice; the retry "
                "reads Amazon first and confirms only what is still unshipped.")
        return str(result.success_file)
