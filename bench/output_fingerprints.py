"""MD5 sums of every file the phases write for fixed input, to prove that a refactoring changed no output.

    .venv/bin/python bench/output_fingerprints.py [--orders 2000] [--products 5000]

It generates seeded Amazon orders and a sample company with extra products, then runs the core of each
phase without Airflow: the orders XML as downloaded, the orders mapping, the import's success, fail and
skipped files, the stock export, both stock mappings and their feed documents. Run it before and after a
change and compare the lines. The result files stamp each record with the time of the import
(``<Date>``), so those stamps are blanked before the sum; nothing else depends on the clock.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sqlite3
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(PROJECT / "plugins"), str(PROJECT)]

START = datetime(2026, 11, 20, tzinfo=UTC)


def md5(path: Path) -> str:
    """The file's MD5 with the result files' import time stamps blanked."""
    return hashlib.md5(re.sub(rb"<Date>[^<]*</Date>", b"<Date/>", path.read_bytes())).hexdigest()


def fingerprints(folder: Path, orders: int, products: int) -> dict[str, str]:
    import pyodbc

    from amazon_sage import settings
    from amazon_sage.core.feeds.feed_documents import build_feed_documents
    from amazon_sage.core.mapping.chunked_mapping import apply_mapping_in_chunks
    from amazon_sage.core.orders.amazon_orders_xml import write_orders_xml
    from amazon_sage.core.sage.order_import import import_sales_orders
    from amazon_sage.core.sage.stock_export import export_stock, stock_query
    from sandbox.order_generator import generate_orders
    from sandbox.sample_company import create_company, odbc_connection_string

    company = create_company(folder / "company.db")
    database = sqlite3.connect(company)  # set-up only: the phases below read and write through ODBC
    database.executemany(
        "INSERT INTO STOCK (STOCK_CODE, DESCRIPTION, SALES_PRICE, QTY_IN_STOCK, QTY_ALLOCATED, QTY_ON_ORDER, "
        "TAX_CODE, WEB_PUBLISH, RECORD_CREATE_DATE, RECORD_MODIFY_DATE, RECORD_DELETED) "
        "VALUES (?, ?, ?, ?, ?, 0, 'T1', 1, ?, ?, 0)",
        ((f"FP-{n:06d}", f"Fingerprint product {n}", (n % 9000) / 1000 + 0.005 * (n % 3), (n % 97) / 10,
          (n % 7) / 10, START.replace(tzinfo=None), START.replace(tzinfo=None)) for n in range(products)))
    database.commit()
    database.close()

    versions = generate_orders(orders, START, days=3, seed=7)
    source = folder / "amazon_orders.xml"
    write_orders_xml([{"orders": list({v["orderId"]: v for v in versions}.values())}], source, window={})
    zynk = apply_mapping_in_chunks(source, settings.mapping_path("ORDERS_MAPPING"), folder / "zynk_orders.xml",
                                   settings.orders_mapping_parameters(), record="Order", output_records="SalesOrder",
                                   threads=2).path
    imported = folder / "import"
    imported.mkdir()
    import_sales_orders(zynk, imported, lambda: pyodbc.connect(odbc_connection_string(company), autocommit=False),
                        import_statuses={"UNSHIPPED", "PARTIALLY_SHIPPED", "SHIPPED"}, unknown_sku_action="fail",
                        helper_processes=1)
    connection = pyodbc.connect(odbc_connection_string(company))
    try:
        records = folder / "zynk_stock_records.xml"
        export_stock(connection, stock_query("All", start=None, end=None), records)
    finally:
        connection.close()
    for kind, parameters in (("inventory", settings.inventory_mapping_parameters()),
                             ("prices", {**settings.prices_mapping_parameters(), "MarketplaceID": "A1F83G8C2ARO7P"})):
        mapped = apply_mapping_in_chunks(records, settings.mapping_path(f"{kind.upper()}_MAPPING"),
                                         folder / f"amazon_{kind}.xml", parameters, record="Product",
                                         output_records=("message", "rejected"), threads=2).path
        build_feed_documents(mapped, seller_id="A1EXAMPLESELLER", out_dir=folder, stem=f"amazon_{kind}_feed")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in {".xml", ".json"})
    return {str(p.relative_to(folder)): md5(p) for p in files}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--products", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="amazon-sage-fingerprints-") as folder:
        for name, digest in fingerprints(Path(folder), args.orders, args.products).items():
            print(f"{digest}  {name}")


if __name__ == "__main__":
    main()
