"""The shape shared by the two stock DAGs: export -> map -> upload -> archive.

``sage_stock_to_amazon_inventory`` and ``sage_stock_to_amazon_prices`` differ only in their
mapping, its parameters, their schedule and the files' names, so both are built here.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, Param

from amazon_sage import settings
from amazon_sage.dag_factories.defaults import dag_arguments, marketplace_id
from amazon_sage.operators.archive import ArchiveWorkflowDataOperator
from amazon_sage.operators.auto_mapper import AutoMapperOperator
from amazon_sage.operators.export_stock_records import Sage50ExportStockRecordsOperator
from amazon_sage.operators.fba_inventory_report import AmazonFbaInventoryReportOperator
from amazon_sage.operators.upload_listings_feed import AmazonUploadListingsFeedOperator

# The trigger form's choices: stock_export.MODES, written out so that parsing the DAG loads no export code
# (tests/test_project.py keeps the two equal).
EXPORT_MODES = ("Modified", "New", "All")

DOC = """
### Sage 50 stock to Amazon {title}

**Export Stock Records → Auto Mapper → Upload {title} Feed → Archive**, on its own schedule (hourly by default).

* Export takes the STOCK records changed in the run's interval (`STOCK_EXPORT_MODE` Modified; New uses the
  creation date; All sends everything — also a choice in the trigger form). Deleted records are never sent.
  No changes: the later tasks skip and no empty feed is sent.
* `{mapping}` turns each product into a `JSON_LISTINGS_FEED` PATCH on `/attributes/{attribute}`. {rule}
* Upload validates every document against Amazon's schema, submits it (25,000 messages per feed at most, 5 feeds
  per 5 minutes per region), waits in the triggerer, then splits Amazon's processing report into
  `amazon_{name}_success.xml` and `amazon_{name}_fail.xml` (each SKU with Amazon's message).
* **Retry:** clearing the upload task resumes waiting on the feeds already submitted; it never sends them twice,
  even after a killed worker or a lost createFeed answer: it finds the feed Amazon made (getFeeds and the report),
  and when it cannot tell, it sends nothing and fails naming the candidate feeds and the command that settles it.
  A FATAL or CANCELLED feed fails the task with Amazon's reason.
* **Settings** (environment variables `AMAZON_SAGE_*`, listed with their Zynk names in the README): the schedule,
  `STOCK_EXPORT_MODE`, `STOCK_PUBLISHED_ONLY`, `STOCK_WHERE`, the mapping file, `FULFILLMENT_CHANNEL`,
  `PRODUCT_TYPE`, `PRICE_CURRENCY`, `TAX_RATE`, `SALE_PRICE_INCLUDES_TAX`, `FEED_POLL_SECONDS`,
  `FEED_TIMEOUT_MINUTES`, `FEED_RECOVERY_WAIT_MINUTES`. Connections: `sage50_default`, `amazon_sp_api_default`.
"""


def stock_feed_dag(*, feed_name: str, title: str, upload_title: str, schedule_setting: str, mapping_setting: str,
                   parameters: dict[str, str], attribute: str, rule: str, fba_report: bool = False) -> DAG:
    """``sage_stock_to_amazon_<feed_name>``: export -> map with ``mapping_setting``'s XSLT -> upload -> archive.

    ``upload_title`` names the upload phase as Zynk does (``Upload {upload_title} Feed``). With ``fba_report``,
    a ``refresh_fba_skus`` task beside the export reads Amazon's FBA inventory report (cached, see
    :class:`AmazonFbaInventoryReportOperator`) and the mapping also takes its SKUs (``FBAReportSkus``).
    """
    mapping = settings.mapping_path(mapping_setting)
    with DAG(
        dag_id=f"sage_stock_to_amazon_{feed_name}",
        description=f"Send Sage 50 stock {title.lower()} to Amazon as JSON_LISTINGS_FEED",
        doc_md=DOC.format(title=title, mapping=mapping.name, attribute=attribute, name=feed_name, rule=rule),
        user_defined_macros={"marketplace_id": marketplace_id},
        **dag_arguments(schedule_setting=schedule_setting, tags=[feed_name], run_timeout=timedelta(hours=4),
                        task_timeout=timedelta(hours=1)),
        params={"export_mode": Param(
            settings.get("STOCK_EXPORT_MODE"), type="string", enum=list(EXPORT_MODES), title="Which stock records",
            values_display={"Modified": "Changed in the run's interval", "New": "Created in the run's interval",
                            "All": "All records (a full refresh on Amazon)"},
            description="Send the Sage stock records changed or created in the run's interval, or all of them.")},
    ) as dag:
        export = Sage50ExportStockRecordsOperator(
            task_id="export_stock_records", task_display_name="Export Stock Records",
            export_mode="{{ params.export_mode }}", marketplace_prices=feed_name == "prices",
            doc="Export the Sage STOCK records of the run as Zynk XML products.")
        if fba_report:
            parameters = {**parameters,
                          "FBAReportSkus": "{{ ti.xcom_pull(task_ids='refresh_fba_skus')['skus'] }}",
                          "FBAReportAsOf": "{{ ti.xcom_pull(task_ids='refresh_fba_skus')['as_of'] }}"}
        map_feed = AutoMapperOperator(
            task_id=f"map_{feed_name}", task_display_name="Auto Mapper",
            input_file="{{ ti.xcom_pull(task_ids='export_stock_records') }}",
            mapping=str(mapping), output_name=f"amazon_{feed_name}.xml", parameters=parameters,
            skip_without="Product", records=("Product", ("message", "rejected", "skipped")),
            doc=f"Map the products to Amazon {feed_name} messages with the XSLT mapping.")
        upload = AmazonUploadListingsFeedOperator(
            task_id=f"upload_{feed_name}_feed", task_display_name=f"Upload {upload_title} Feed", feed_name=feed_name,
            pool=settings.get("SP_API_POOL"),
            input_file=f"{{{{ ti.xcom_pull(task_ids='map_{feed_name}') }}}}",
            doc=f"Send the {feed_name} feed to Amazon, wait for it, and split the report per SKU.")
        archive = ArchiveWorkflowDataOperator(
            task_id="archive_workflow_data", task_display_name="Archive Workflow Data", trigger_rule="none_failed",
            doc="Zip the run's files into the archive, verify, and remove the working folder.")
        export >> map_feed >> upload >> archive
        if fba_report:
            # Beside the export, before the mapping: the quantities wait for the FBA SKUs, never the reverse.
            AmazonFbaInventoryReportOperator(
                task_id="refresh_fba_skus", task_display_name="Read FBA Inventory Report",
                pool=settings.get("SP_API_POOL"),
                doc="Know the FBA SKUs from Amazon's FBA inventory report, at most every FBA_SKUS_REPORT_HOURS "
                    "(else the cached one; the last good one if Amazon fails).") >> map_feed
    return dag
