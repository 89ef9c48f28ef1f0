"""The despatch DAG: Sage 50 despatches -> Amazon shipment confirmations (Zynk's "Upload Shipments")."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG

from amazon_sage import settings
from amazon_sage.dag_factories.defaults import dag_arguments, window_params
from amazon_sage.operators.archive import ArchiveWorkflowDataOperator
from amazon_sage.operators.auto_mapper import AutoMapperOperator
from amazon_sage.operators.confirm_shipments import AmazonConfirmShipmentsOperator
from amazon_sage.operators.export_despatches import Sage50ExportDespatchesOperator

DAG_ID = "sage_despatches_to_amazon"

DOC = """
### Sage 50 despatches to Amazon

**Export Despatches → Auto Mapper → Confirm Shipments → Archive**, every 15 minutes by default.

* Export takes the Sage sales orders whose despatch status counts as despatched (`DESPATCHED_STATUSES`: Part
  or Complete) and that Sage changed in the run's interval (started `DESPATCH_WINDOW_OVERLAP_MINUTES` early),
  with the courier, the consignment (tracking) number and each line's quantity despatched so far.
* `zynk_despatches_to_amazon_shipments.xslt` maps the courier to Amazon's carrier code with the table
  `COURIER_CARRIER_CODES`; a courier it does not know goes as carrier *Other* with its name, never dropped.
* Confirm Shipments reads each order on Amazon (getOrder) and confirms (confirmShipment) only the units Amazon
  does not count as shipped yet: a part despatch confirms its units, the despatch of the rest the rest.
  FBA, cancelled and already shipped orders, and Sage orders that are not Amazon's, are skipped with the reason.
* Files of the run are in `<work root>/sage_despatches_to_amazon/<run id>/`: `zynk_despatches.xml`,
  `amazon_shipments.xml`, `amazon_shipments_success.xml` (each with the package sent),
  `amazon_shipments_fail.xml` (Amazon's message) and `amazon_shipments_skipped.xml` (the reason).
* **Retry and rerun:** clearing any task, rerunning any window or a one-off window (trigger with
  `despatched_from` / `despatched_to`) never confirms a unit twice: Amazon's own count is read first. When
  Amazon's answer to a confirmation is lost, the task fails and its retry reads Amazon before sending.
* **Settings** (environment variables `AMAZON_SAGE_*`, listed with their Zynk names in the README):
  `DESPATCHES_SCHEDULE`, `DESPATCHED_STATUSES`, `DESPATCH_WINDOW_OVERLAP_MINUTES`, `DESPATCHES_MAPPING`,
  `COURIER_CARRIER_CODES`, `SHIP_FROM_SUPPLY_SOURCE_ID`. Connections: `sage50_default`, `amazon_sp_api_default`.
"""


def despatches_dag() -> DAG:
    """``sage_despatches_to_amazon``: export despatches -> map -> confirm shipments -> archive."""
    with DAG(
        dag_id=DAG_ID,
        description="Confirm Sage 50 despatches to Amazon as shipments (carrier, tracking, quantities)",
        doc_md=DOC,
        **dag_arguments(schedule_setting="DESPATCHES_SCHEDULE", tags=["despatches"], run_timeout=timedelta(hours=4),
                        task_timeout=timedelta(hours=1)),
        params=window_params("despatched_from", "despatched_to", what="Take the Sage orders changed"),
    ) as dag:
        export = Sage50ExportDespatchesOperator(
            task_id="export_despatches", task_display_name="Export Despatches",
            despatched_from="{{ params.despatched_from }}", despatched_to="{{ params.despatched_to }}",
            doc="Export the Sage sales orders despatched in the window, with courier, tracking and quantities.")
        map_shipments = AutoMapperOperator(
            task_id="map_shipments", task_display_name="Auto Mapper",
            input_file="{{ ti.xcom_pull(task_ids='export_despatches') }}",
            mapping=str(settings.mapping_path("DESPATCHES_MAPPING")), output_name="amazon_shipments.xml",
            parameters=settings.despatches_mapping_parameters(), skip_without="SalesOrder",
            records=("SalesOrder", "Shipment"),
            doc="Map the despatches to Amazon shipments with the XSLT mapping and the courier table.")
        confirm = AmazonConfirmShipmentsOperator(
            task_id="confirm_shipments", task_display_name="Confirm Shipments", pool=settings.get("SP_API_POOL"),
            input_file="{{ ti.xcom_pull(task_ids='map_shipments') }}",
            doc="Confirm to Amazon the despatched units it does not count as shipped yet; success/fail/skipped files.")
        archive = ArchiveWorkflowDataOperator(
            task_id="archive_workflow_data", task_display_name="Archive Workflow Data", trigger_rule="none_failed",
            doc="Zip the run's files into the archive, verify, and remove the working folder.")
        export >> map_shipments >> confirm >> archive
    return dag
