"""Every setting of the product, named once.

Each setting has a default and may be overridden by an environment variable named
``AMAZON_SAGE_<NAME>``. Values are read when asked for (never cached), so a worker
picks up a changed environment on its next task and tests can set variables freely.
Per-run overrides come from DAG Params, not from here.

The README's settings table is checked against ``SETTINGS`` by a test, so a new
setting must be documented there with its Zynk equivalent.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_PREFIX = "AMAZON_SAGE_"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Setting:
    """One setting: its name, default, Zynk equivalent and meaning."""

    name: str
    default: str
    zynk: str
    doc: str

    @property
    def env_var(self) -> str:
        return ENV_PREFIX + self.name


def _airflow_home() -> Path:
    return Path(os.environ.get("AIRFLOW_HOME", Path.home() / "airflow"))


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        # Connections
        Setting("SP_API_CONN_ID", "amazon_sp_api_default", "Amazon connection (Merchant ID, MWS token)",
                "Airflow connection holding the LWA app, refresh token, seller id and marketplace."),
        Setting("SAGE_CONN_ID", "sage50_default", "Sage 50 Connection",
                "Airflow ODBC connection to the Sage 50 company."),
        # Files
        Setting("WORK_ROOT", "", "Workflow working directory",
                "Root of the per-run working folders <root>/<dag_id>/<run_id>/. "
                "Empty means $AIRFLOW_HOME/amazon_sage/work."),
        Setting("ARCHIVE_DESTINATION", "", "Archive Workflow Data: Archive Folder",
                "Folder or s3://bucket/prefix that receives one zip per run, under a folder per DAG. "
                "Empty means $AIRFLOW_HOME/amazon_sage/archive."),
        Setting("AWS_CONN_ID", "aws_default", "(none)",
                "Airflow AWS connection for an s3:// archive (its extra may set endpoint_url)."),
        Setting("ARCHIVE_RETENTION", "none", "Archive: House Keeping Type (NotEnabled)",
                "'none' keeps every archive, 'count' keeps the newest N per DAG, "
                "'days' deletes those older than N days."),
        Setting("ARCHIVE_RETENTION_NUMBER", "90", "Archive: House Keeping Number", "N for ARCHIVE_RETENTION."),
        Setting("PII_RETENTION_DAYS", "30", "(none: Zynk kept archives whole)",
                "Days buyer PII is kept in archives, from each order's ship date where known, else its purchase "
                "date; then the buyer-data housekeeping rewrites the archive without it (orders, SKUs, amounts, "
                "VAT, Sage numbers, postcode area and country stay). Failed runs' work folders unchanged this long "
                "are removed."),
        Setting("BUYER_DATA_SCHEDULE", "30 2 * * *", "(none)",
                "Cron schedule of amazon_sage_buyer_data, the housekeeping that removes expired buyer PII "
                "from archives (daily)."),
        Setting("ARCHIVE_KEY_CONN_ID", "amazon_sage_archive_key", "(none: Zynk's archives were plain zips)",
                "Airflow connection whose password holds the archive keys, 'id:base64-key' entries separated by "
                "commas, the current key first (python -m amazon_sage.cli.archives new-key <id> makes one). "
                "Archives are encrypted with it; keep older keys listed after the current one."),
        Setting("ARCHIVE_S3_SSE", "aws:kms", "(none)",
                "S3 server-side encryption on top of the archive's own: aws:kms, AES256 or none (for S3-compatible "
                "stores without KMS)."),
        Setting("ARCHIVE_S3_KMS_KEY_ID", "", "(none)",
                "KMS key id when ARCHIVE_S3_SSE is aws:kms; empty means the bucket's default (aws/s3)."),
        Setting("ARCHIVE_MULTIPART_THRESHOLD_MB", "64", "(none)", "Archives larger than this upload to S3 in parts."),
        Setting("MAPPINGS_DIR", "", "Auto Mapper: Mapping",
                "Folder of the XSLT mappings. Empty means include/mappings in the project."),
        Setting("MAPPING_THREADS", "0", "(none)",
                "Threads the Auto Mapper maps chunks of records on. 0 means one per CPU core of the worker."),
        # Download Orders
        Setting("ORDERS_SCHEDULE", "*/15 * * * *", "Run on a schedule (every 15 minutes)",
                "Cron schedule of amazon_orders_to_sage; each run takes orders updated in its interval."),
        # Orders within a minute: Amazon's ORDER_CHANGE notifications through SQS
        Setting("ORDER_EVENTS_QUEUE_URL", "", "(none: Zynk polls)",
                "URL of the SQS queue Amazon sends ORDER_CHANGE notifications to; amazon_order_events_to_sage "
                "watches it. Empty: the event DAG has no watcher and only the polling DAG imports."),
        Setting("ORDER_EVENTS_QUEUE_ARN", "", "(none)",
                "ARN of that queue (arn:aws:sqs:<region>:<account>:<name>), for createDestination; empty means "
                "derived from ORDER_EVENTS_QUEUE_URL when it is an AWS queue URL."),
        Setting("ORDER_EVENTS_AWS_CONN_ID", "aws_default", "(none)",
                "Airflow AWS connection the queue watcher reads and deletes messages with (its extra may set "
                "endpoint_url and region_name)."),
        Setting("ORDER_EVENTS_WAIT_SECONDS", "20", "(none)",
                "SQS long-poll time of the watcher (1-20): a message is taken as soon as it arrives within it."),
        Setting("ORDER_EVENTS_POLL_DELAY_SECONDS", "1", "(none)",
                "Seconds the watcher waits between two empty long polls (the provider's default is 60)."),
        Setting("ORDER_EVENTS_DESTINATION_NAME", "amazon-sage-order-events", "(none)",
                "Name of the SP-API notification destination the subscribe command creates for the queue."),
        Setting("ORDER_CHANGE_TYPES", "OrderStatusChange,BuyerRequestedChange", "(none)",
                "ORDER_CHANGE types the subscription asks for (its processing directive's orderChangeTypes)."),
        Setting("DOWNLOAD_FROM", "2026-01-01T00:00:00+00:00", "Download Orders: Download From",
                "First instant orders are downloaded from; the DAG's start_date and the earliest backfill date."),
        Setting("EXPORT_DATE", "", "Download Orders: Export Date (Download Date)",
                "Optional floor on the purchase date: orders placed before it are never imported."),
        Setting("ORDER_STATUSES", "UNSHIPPED,PARTIALLY_SHIPPED,SHIPPED", "Download Orders: Order Status",
                "Fulfilment statuses that are imported into Sage (comma-separated)."),
        Setting("ORDERS_FULFILLED_BY", "All", "Download Orders: Fulfilment Channel (All, AFN, MFN)",
                "Which orders to download: All, AFN (fulfilled by Amazon, FBA) or MFN (seller-fulfilled)."),
        Setting("FBA_ONLY_WHEN_SHIPPED", "true", "(none)",
                "Take FBA orders only once Amazon has shipped them (they need nothing from the seller; a later "
                "window takes them when they ship). Cancellations are still downloaded."),
        Setting("FBA_NOMINAL_CODE", "", "(none)",
                "Sales nominal code of FBA item lines, to report FBA sales apart. Empty means NOMINAL_CODE."),
        Setting("WATCH_CANCELLATIONS", "true", "(none)",
                "Also download CANCELLED orders so that an imported order cancelled later is reported."),
        Setting("WINDOW_OVERLAP_MINUTES", "5", "(none)",
                "Minutes each scheduled window starts before its interval, against Amazon's late updates."),
        # Auto Mapper (orders)
        Setting("ORDERS_MAPPING", "amazon_orders_to_zynk_sales_orders.xslt", "Auto Mapper: Mapping",
                "Mapping from Amazon orders to Zynk sales orders (a file in MAPPINGS_DIR or a path)."),
        Setting("ACCOUNT_REFERENCE", "AMAZON", "Mapping parameter AccountReference (AMAZONSALES)",
                "Sage customer account for Amazon orders (8 characters at most)."),
        Setting("TAX_CODE", "1", "Mapping parameter TaxCode", "Sage tax code number for item lines (1 = T1)."),
        Setting("FACILITATOR_TAX_CODE", "9", "(none)",
                "Sage tax code number of lines whose VAT Amazon collects and remits as marketplace facilitator (no "
                "output VAT for the seller): 9 = T9 outside the scope of VAT, or 0 = T0 zero-rated, as your "
                "accountant advises."),
        Setting("MARKETPLACE_ACCOUNTS", "", "Sage customer per marketplace (one task per marketplace in Zynk)",
                "Sage customer account per marketplace or per currency, e.g. DE=AMAZONDE,FR=AMAZONFR or EUR=AMAZONEU: "
                "a Sage account has one currency, so each currency needs its own. Orders of a marketplace not listed "
                "take ACCOUNT_REFERENCE."),
        Setting("MARKETPLACE_TAX", "", "Mapping parameters TaxCode/TaxRate per marketplace",
                "Sage tax code and VAT rate per marketplace, e.g. DE=T20:19,FR=T21:20,IE=T22:23 (VAT is split from "
                "the VAT-inclusive price at that rate). Marketplaces not listed take TAX_CODE and TAX_RATE."),
        Setting("MARKETPLACE_PRICE_LISTS", "", "(none)",
                "Sage price list (its reference) per marketplace for the prices feed, e.g. DE=AMZDE,FR=AMZFR. A "
                "product on the list takes the list's net price, in the list's currency, plus the marketplace's "
                "VAT, converted at Sage's rates; a product not on it takes its own sales price. Only lists whose "
                "prices remain static (Sage's setting) are used; others' prices go to the fail file."),
        Setting("TAX_RATE", "20", "Mapping parameter TaxRate", "VAT rate (%) used to net VAT-inclusive prices."),
        Setting("NOMINAL_CODE", "4000", "Mapping parameter NominalCode (5000)", "Sales nominal code of item lines."),
        Setting("CARRIAGE_CODE", "CARRIAGE", "Mapping parameter CarriageCode", "Sku written on the carriage line."),
        Setting("CARRIAGE_NOMINAL_CODE", "4905", "(carriage nominal)", "Nominal code of carriage."),
        Setting("TAKEN_BY", "Amazon", "Mapping parameter TakenBy (Amazon_Zynk)",
                "Sage 'Order Taken By'; with SAGE_POSTING=audit_trail, the User Name of each line (32 characters "
                "at most)."),
        Setting("VAT_INCLUSIVE_ITEM", "true", "Mapping parameter VATInclusiveItem",
                "Amazon item prices include VAT and are netted down."),
        Setting("VAT_INCLUSIVE_CARRIAGE", "true", "Mapping parameter VATInclusiveCarriage",
                "Amazon shipping prices include VAT and are netted down."),
        Setting("BANK_ACCOUNT", "1200", "Mapping parameter BankAccount", "Sage bank nominal of the payment."),
        Setting("ADD_PAYMENT_DETAILS", "true", "Mapping parameter AddPaymentDetails",
                "Write PaymentAmount (what the buyer paid); the import checks the order's gross against it."),
        # Import Sales Orders
        Setting("UNKNOWN_SKU_ACTION", "fail", "Import: AutoCreateProducts / DefaultProductCode",
                "'fail' fails an order with an unknown SKU; 'special' imports the line as Sage item S1."),
        Setting("MARK_CANCELLATIONS", "true", "(none)",
                "An imported order that Amazon cancels before Sage despatches it is marked 'CANCELLED ON AMAZON "
                "<date>: DO NOT SHIP' in its first notes line (earlier notes move down), so pickers see it; false "
                "leaves it unchanged and only lists it as needing attention. One despatched already fails its "
                "record (refund or recover) and sends a notice. Items Amazon cancels on an order that goes on "
                "mark their Sage lines the same way (first comment), and the order's notes once."),
        Setting("IMPORT_HELPER_PROCESSES", "1", "(none)",
                "Helper processes that read and check orders while the import writes to Sage. 0 does it all in "
                "the task's own process. 1 suits two cores; more helps only with more cores."),
        # Post to Sage: sales orders over a write-capable ODBC target, or an audit-trail import file
        Setting("SAGE_POSTING", "sales_orders", "Sage 50 connector: Import Sales Orders (through SDO)",
                "'sales_orders' writes SALES_ORDER/SOP_ITEM over a write-capable ODBC connection; 'audit_trail' "
                "writes one sales invoice (SI) per order to an import file for Sage's File > Import "
                "(audit trail transactions) and only reads Sage, as its own read-only ODBC driver allows."),
        Setting("AUDIT_TRAIL_DROP_FOLDER", "", "(none)",
                "Folder the bookkeeper imports audit-trail files from (e.g. a share the Sage PC sees). "
                "Empty means $AIRFLOW_HOME/amazon_sage/sage_import."),
        Setting("AUDIT_TRAIL_LEDGER", "", "(none)",
                "The product's record of exported transactions, so none is exported twice before Sage imports it "
                "(a SQLite file; on several workers, put it on a shared volume). "
                "Empty means $AIRFLOW_HOME/amazon_sage/audit_trail_ledger.sqlite."),
        Setting("AUDIT_TRAIL_DEPARTMENT", "0", "(Department)", "Sage department number of the invoice lines (0-999)."),
        Setting("AUDIT_TRAIL_HEADER_ROW", "true", "(none)",
                "Write the column names as the file's first row (tick 'My file contains headers' in Sage's wizard)."),
        Setting("AUDIT_TRAIL_OVERDUE_HOURS", "48", "(none)",
                "An order exported this many hours ago and still not in Sage's audit trail is listed as needing "
                "attention (file not imported?)."),
        # Export Stock Records and the feeds
        Setting("INVENTORY_SCHEDULE", "0 * * * *", "(Upload Inventory Feed schedule)",
                "Cron schedule of sage_stock_to_amazon_inventory (hourly)."),
        Setting("PRICES_SCHEDULE", "0 * * * *", "(Upload Price Feed schedule)",
                "Cron schedule of sage_stock_to_amazon_prices (hourly)."),
        Setting("STOCK_EXPORT_MODE", "Modified", "Export Stock Records: Export Modified, New or All Records",
                "Modified (RECORD_MODIFY_DATE in the run's interval), New (RECORD_CREATE_DATE) or All."),
        Setting("STOCK_PUBLISHED_ONLY", "false", "Export Stock Records: Export Published Products",
                "Only export products with WEB_PUBLISH = 1."),
        Setting("STOCK_WHERE", "", "Export Stock Records: Query Settings / Filter",
                "Extra condition on STOCK, e.g. STOCK_CAT = 3 AND STOCK_CODE LIKE 'MUG%'. Taken from here only, "
                "never from run input. Accepted: STOCK's own columns (Sage's ODBC STOCK table), = <> != < <= > >=, "
                "AND, OR, NOT, parentheses, [NOT] IN ('A', 'B'), [NOT] LIKE 'pattern', IS [NOT] NULL, "
                "[NOT] BETWEEN x AND y, numbers (-2.5) and 'strings' ('' for a quote, dates as 'YYYY-MM-DD'); "
                "values reach Sage as ? parameters. Anything else (another table's columns, subqueries, UNION, "
                "comments, semicolons, function calls, arithmetic) fails the export task at its start, "
                "with the reason and its position."),
        Setting("INVENTORY_MAPPING", "zynk_products_to_amazon_inventory.xslt", "Auto Mapper: Mapping",
                "Mapping from Zynk products to Amazon quantity messages."),
        Setting("PRICES_MAPPING", "zynk_products_to_amazon_prices.xslt", "Auto Mapper: Mapping",
                "Mapping from Zynk products to Amazon price messages."),
        Setting("FULFILLMENT_CHANNEL", "DEFAULT", "(none)", "fulfillment_channel_code of quantity updates."),
        Setting("FBA_SKUS", "", "(none)",
                "SKUs Amazon stocks (FBA), comma-separated: the quantity feed sends them no seller-fulfilled "
                "quantity (it could switch an FBA offer to seller-fulfilled) and lists them in its skipped file."),
        Setting("FBA_SKUS_REPORT_HOURS", "24", "(none)",
                "The inventory DAG also knows the FBA SKUs from Amazon's FBA inventory report "
                "(GET_FBA_MYI_UNSUPPRESSED_INVENTORY_DATA, afn-listing-exists Yes), requested again when the last "
                "good one is older than this many hours; the quantity feed skips the SKUs of FBA_SKUS and of that "
                "report. 0 = never read the report: FBA_SKUS only."),
        Setting("PRODUCT_TYPE", "PRODUCT", "(none)", "Amazon productType sent with each PATCH."),
        Setting("PRICE_CURRENCY", "GBP", "Mapping parameter Currency", "Currency of prices sent to Amazon."),
        Setting("SALE_PRICE_INCLUDES_TAX", "false", "(none)",
                "Sage's SALES_PRICE already includes VAT (otherwise TAX_RATE is added)."),
        Setting("FEED_POLL_SECONDS", "30", "(none)",
                "Seconds between getFeed polls while a feed is processed (and getReport polls while Amazon makes "
                "the FBA inventory report)."),
        Setting("FEED_TIMEOUT_MINUTES", "120", "Import JSON Feed: timeout in minutes",
                "How long to wait for Amazon to process a feed before the task fails (0 = no limit)."),
        Setting("FEED_RECOVERY_WAIT_MINUTES", "15", "(none)",
                "After a lost createFeed answer or a killed worker, how long the upload waits for feeds that may be "
                "the run's to finish processing, so that one can be confirmed before anything is sent again."),
        # Upload Shipments (Sage despatches -> Amazon shipment confirmations)
        Setting("DESPATCHES_SCHEDULE", "*/15 * * * *", "(Upload Shipments schedule)",
                "Cron schedule of sage_despatches_to_amazon; each run takes the despatches Sage recorded in its "
                "interval."),
        Setting("DESPATCHED_STATUSES", "Complete,Part", "Export Despatches: despatch status filter",
                "Sage DESPATCH_STATUS values that count as despatched, in full or in part (comma-separated, "
                "any case). The quantities confirmed are each line's SOP_ITEM.QTY_DELIVERED: what Sage has "
                "despatched of it so far."),
        Setting("DESPATCH_WINDOW_OVERLAP_MINUTES", "15", "(none)",
                "Minutes each window of the despatch export starts before its interval, against Sage's clock and "
                "despatches committed late. Harmless: what Amazon already counts as shipped is never sent again."),
        Setting("DESPATCHES_MAPPING", "zynk_despatches_to_amazon_shipments.xslt", "Auto Mapper: Mapping",
                "Mapping from Zynk despatched sales orders to Amazon shipment confirmations."),
        Setting("COURIER_CARRIER_CODES",
                "Royal Mail=Royal Mail;Parcelforce=Parcelforce;DPD=DPD;Evri=Evri;Hermes=Evri;Yodel=Yodel;UPS=UPS;"
                "DHL=DHL;FedEx=FedEx;Amazon Shipping=Amazon Shipping",
                "Mapping parameter CarrierCodes (courier lookup)",
                "Sage courier name=Amazon carrierCode pairs, separated by ';'. A Sage COURIER_NAME matches the "
                "first name it starts with, ignoring case ('royal mail tracked 24' is Royal Mail); the whole Sage "
                "name is sent as shippingMethod. Any other courier is sent as carrierCode Other with the Sage name "
                "as carrierName, never dropped."),
        Setting("SHIP_FROM_SUPPLY_SOURCE_ID", "", "(none)",
                "Amazon supply source id (a ship-from location in Seller Central) sent as shipFromSupplySourceId. "
                "Empty sends none: Amazon uses the account's default ship-from address."),
        # Pools and notifications
        Setting("SP_API_POOL", "amazon_sp_api", "(none)",
                "Airflow pool that every SP-API task uses, so all DAGs and runs share Amazon's rate limits."),
        Setting("SP_API_POOL_SLOTS", "2", "(none)", "Slots of the SP-API pool (tasks calling Amazon at once)."),
        Setting("SAGE_POOL", "sage50_import", "Use Mutex",
                "Airflow pool of one slot for Sage imports: Sage 50 allows one session per user."),
        Setting("NOTIFY_CHANNEL", "none", "Email Workflow Report (OnFailure)",
                "Where failures are reported: none, email (SMTP connection) or webhook."),
        Setting("NOTIFY_EMAIL_TO", "", "Email Workflow Report To", "Comma-separated recipients of email notices."),
        Setting("NOTIFY_SMTP_CONN_ID", "smtp_default", "(SMTP settings)",
                "Airflow SMTP connection: host, port, login, password; extra from_email, ssl, starttls."),
        Setting("NOTIFY_WEBHOOK_CONN_ID", "amazon_sage_webhook", "(none)",
                "Airflow connection whose host is the webhook URL (kept out of settings: it often holds a token)."),
        Setting("NOTIFY_RECORDS_EVERY_MINUTES", "60", "(none)",
                "Failed orders or SKUs raise at most one notice per DAG in this many minutes."),
        # Task behaviour
        Setting("TASK_RETRIES", "3", "Can Resume From Failure", "Airflow retries of every task."),
        Setting("RETRY_DELAY_SECONDS", "60", "(none)", "First retry delay; it doubles on each retry."),
        Setting("SP_API_MAX_ATTEMPTS", "8", "APICallDelay (fixed 1000 ms)",
                "Attempts per SP-API call on 429 or 5xx before the task fails."),
        Setting("SP_API_BACKOFF_CAP_SECONDS", "60", "(none)", "Longest single wait between SP-API attempts."),
        Setting("SP_API_RATE_LIMITS", "", "(none)",
                "JSON overrides of Amazon's rate limits, e.g. {\"searchOrders\": [0.0056, 20]} (rate/s, burst)."),
    )
}


def get(name: str) -> str:
    """Return the value of setting ``name``: the environment variable if set, else the default."""
    setting = SETTINGS[name]
    return os.environ.get(setting.env_var, setting.default)


def get_bool(name: str) -> bool:
    value = get(name).strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"{SETTINGS[name].env_var}={value!r} is not a boolean (use true or false)")


def get_int(name: str) -> int:
    try:
        return int(get(name))
    except ValueError:
        raise ValueError(f"{SETTINGS[name].env_var}={get(name)!r} is not a whole number") from None


def get_list(name: str) -> list[str]:
    return [part.strip().upper() for part in get(name).split(",") if part.strip()]


def work_root() -> Path:
    return Path(get("WORK_ROOT") or _airflow_home() / "amazon_sage" / "work")


def archive_destination() -> str:
    return get("ARCHIVE_DESTINATION") or str(_airflow_home() / "amazon_sage" / "archive")


FULFILLED_BY = {"ALL": [], "AFN": ["AMAZON"], "MFN": ["MERCHANT"]}


def orders_fulfilled_by() -> list[str]:
    """searchOrders' ``fulfilledBy`` filter for ORDERS_FULFILLED_BY (empty: every order)."""
    value = get("ORDERS_FULFILLED_BY").strip().upper()
    if value not in FULFILLED_BY:
        raise ValueError(f"{SETTINGS['ORDERS_FULFILLED_BY'].env_var}={value!r}: use All, AFN (FBA) or MFN "
                         "(seller-fulfilled)")
    return FULFILLED_BY[value]


def audit_trail_drop_folder() -> Path:
    return Path(get("AUDIT_TRAIL_DROP_FOLDER") or _airflow_home() / "amazon_sage" / "sage_import")


def audit_trail_ledger() -> Path:
    return Path(get("AUDIT_TRAIL_LEDGER") or _airflow_home() / "amazon_sage" / "audit_trail_ledger.sqlite")


def mapping_path(setting_name: str) -> Path:
    """Resolve a mapping setting: an absolute path, or a file name in MAPPINGS_DIR."""
    value = Path(get(setting_name))
    if value.is_absolute():
        return value
    return Path(get("MAPPINGS_DIR") or PROJECT_ROOT / "include" / "mappings") / value


def inventory_mapping_parameters() -> dict[str, str]:
    fba = [sku.strip() for sku in get("FBA_SKUS").split(",") if sku.strip()]
    # The mapping's ";SKU;SKU;" form, as core.feeds.fba_sku_cache.xslt_sku_list writes the report's (not imported:
    # DAG parsing loads no phase code).
    return {"FulfillmentChannel": get("FULFILLMENT_CHANNEL"), "ProductType": get("PRODUCT_TYPE"),
            "FBASkus": (";" + ";".join(fba) + ";") if fba else ""}


def fba_skus_report_hours() -> float:
    """FBA_SKUS_REPORT_HOURS as hours (0: never read the report); ValueError naming the setting otherwise."""
    raw = get("FBA_SKUS_REPORT_HOURS").strip()
    try:
        hours = float(raw)
    except ValueError:
        hours = -1.0
    if not hours >= 0 or hours == float("inf"):
        raise ValueError(f"{SETTINGS['FBA_SKUS_REPORT_HOURS'].env_var}={raw!r}: use a number of hours, 0 or more "
                         "(0 = never read the FBA inventory report)")
    return hours


def prices_mapping_parameters() -> dict[str, str]:
    return {"Currency": get("PRICE_CURRENCY"), "TaxRate": get("TAX_RATE"), "ProductType": get("PRODUCT_TYPE"),
            "SalePriceIncludesTax": str(get_bool("SALE_PRICE_INCLUDES_TAX")).lower()}


def orders_mapping_parameters() -> dict[str, str]:
    """The Zynk template's parameters for the orders mapping, from settings."""
    return {
        "AccountReference": get("ACCOUNT_REFERENCE"),
        "TaxCode": get("TAX_CODE"),
        "TaxRate": get("TAX_RATE"),
        "NominalCode": get("NOMINAL_CODE"),
        "CarriageCode": get("CARRIAGE_CODE"),
        "CarriageNominalCode": get("CARRIAGE_NOMINAL_CODE"),
        "TakenBy": get("TAKEN_BY"),
        "VATInclusiveItem": str(get_bool("VAT_INCLUSIVE_ITEM")).lower(),
        "VATInclusiveCarriage": str(get_bool("VAT_INCLUSIVE_CARRIAGE")).lower(),
        "BankAccount": get("BANK_ACCOUNT"),
        "AddPaymentDetails": str(get_bool("ADD_PAYMENT_DETAILS")).lower(),
        "FBANominalCode": get("FBA_NOMINAL_CODE"),
        "FacilitatorTaxCode": get("FACILITATOR_TAX_CODE"),
        **marketplace_mapping_parameters(),
    }


def marketplace_mapping_parameters() -> dict[str, str]:
    """The orders mapping's per-marketplace tables, from MARKETPLACE_ACCOUNTS and MARKETPLACE_TAX.

    Raises ValueError naming the setting when one cannot be read.
    """
    from amazon_sage.core.marketplaces import MarketplaceError, account_table, tax_table, xslt_table

    try:
        accounts = account_table(get("MARKETPLACE_ACCOUNTS"))
    except MarketplaceError as exc:
        raise ValueError(f"{SETTINGS['MARKETPLACE_ACCOUNTS'].env_var}: {exc}") from None
    try:
        taxes = tax_table(get("MARKETPLACE_TAX"))
    except MarketplaceError as exc:
        raise ValueError(f"{SETTINGS['MARKETPLACE_TAX'].env_var}: {exc}") from None
    return {"MarketplaceAccounts": xslt_table(accounts),
            "MarketplaceTaxCodes": xslt_table({key: str(code) for key, (code, _) in taxes.items()}),
            "MarketplaceTaxRates": xslt_table({key: rate for key, (_, rate) in taxes.items()})}


def despatches_mapping_parameters() -> dict[str, str]:
    """The despatch mapping's parameters: the courier table and the ship-from location."""
    return {"CarrierCodes": get("COURIER_CARRIER_CODES"), "ShipFromSupplySourceId": get("SHIP_FROM_SUPPLY_SOURCE_ID")}


def markdown_table() -> str:
    """The README's settings table (``python -m amazon_sage.settings`` prints it)."""
    rows = ["| Environment variable | Default | Zynk equivalent | Meaning |", "|---|---|---|---|"]
    for setting in SETTINGS.values():
        default = f"`{setting.default.replace('|', chr(92) + '|')}`" if setting.default else "(empty)"
        rows.append(f"| `{setting.env_var}` | {default} | {setting.zynk} | {setting.doc} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
