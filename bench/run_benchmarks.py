"""Every benchmark of the product, on this machine: prints a table and writes bench/results.json.

    .venv/bin/python bench/run_benchmarks.py [--quick]

``--quick`` shrinks the sizes (for a smoke run); the bars in bench/README.md apply to the full run.
Each figure is measured on the product's own code paths (the hook against the sandbox over HTTP,
the Auto Mapper, the import through pyodbc and unixODBC's SQLite3 driver, ``airflow dags test``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(PROJECT / "plugins"), str(PROJECT)]

from sandbox.airflow_env import airflow_environment  # noqa: E402

START = datetime(2026, 10, 1, tzinfo=timezone.utc)
RESULTS = PROJECT / "bench" / "results.json"


def child(function: str, *args: str) -> dict:
    """Run ``function`` of this file in a fresh Python process and return its JSON answer (with peak RSS)."""
    done = subprocess.run([sys.executable, __file__, "--child", function, *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT / "plugins"), str(PROJECT)])})
    if done.returncode:
        raise RuntimeError(f"{function} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- 1. download efficiency against the rate limit ------------------------------------------------

def bench_download(orders: int, rate: float, burst: int, mode: str) -> dict:
    from sandbox.order_generator import generate_orders
    from sandbox.sp_api_server import Sandbox, SandboxServer

    versions = [v for v in generate_orders(orders, START, days=10)
                if v["fulfillment"]["fulfillmentStatus"] != "PENDING"]
    latest = {v["orderId"]: v for v in versions}
    with tempfile.TemporaryDirectory() as home, SandboxServer(Sandbox(list(latest.values()))) as server:
        env = airflow_environment(Path(home), sandbox_url=server.url, company=Path(home) / "none.db")
        os.environ.update(env)
        os.environ["AMAZON_SAGE_SP_API_RATE_LIMITS"] = json.dumps({"searchOrders": [rate, burst]})
        server.sandbox.configure({"rate_limits": {"searchOrders": [rate, burst]}})
        if mode == "throttled":
            server.sandbox.configure({"faults": [{"operation": "searchOrders", "kind": "throttle", "probability": 0.05,
                                                  "count": None}]})
        from amazon_sage.hooks.selling_partner import SellingPartnerHook

        hook = SellingPartnerHook()
        if mode == "fixed_delay":  # Zynk's way: a fixed pause between calls, no model of the bucket
            os.environ["AMAZON_SAGE_SP_API_RATE_LIMITS"] = json.dumps({"searchOrders": [10_000, 10_000]})
            hook = SellingPartnerHook()
        started = time.monotonic()
        seen = 0
        pages = 0
        for page in hook.search_orders(last_updated_after="2026-09-30T00:00:00Z",
                                       last_updated_before="2026-10-20T00:00:00Z",
                                       fulfillment_statuses=["UNSHIPPED", "PARTIALLY_SHIPPED", "SHIPPED", "CANCELLED"]):
            seen += len(page["orders"])
            pages += 1
            if mode == "fixed_delay":
                time.sleep(1 / rate)
        wall = time.monotonic() - started
        throttled = server.sandbox.state.throttled.get("searchOrders", 0)
    lower_bound = max(pages - burst, 0) / rate
    return {"orders": seen, "pages": pages, "wall": wall, "lower_bound": lower_bound,
            "efficiency": lower_bound / wall, "throttled": throttled}


# -- 2. mapping --------------------------------------------------------------------------------------

def make_orders_file(count: int, path: str) -> dict:
    from amazon_sage.core.orders.amazon_orders_xml import write_orders_xml
    from sandbox.order_generator import generate_orders

    def pages():
        batch = 5000
        for offset in range(0, count, batch):  # generated in batches so this process stays small too
            versions = generate_orders(min(batch, count - offset), START + timedelta(days=offset // batch),
                                       days=1, seed=offset + 1)
            yield {"orders": list({v["orderId"]: v for v in versions}.values())}

    counts = write_orders_xml(pages(), Path(path), window={})
    return {"orders": counts.written}


def bench_map(path: str, output: str) -> dict:
    from amazon_sage import settings
    from amazon_sage.core.mapping.chunked_mapping import apply_mapping_in_chunks
    from amazon_sage.core.mapping.xslt import count_elements

    started = time.perf_counter()
    apply_mapping_in_chunks(Path(path), settings.mapping_path("ORDERS_MAPPING"), Path(output),
                            settings.orders_mapping_parameters(), record="Order", output_records="SalesOrder",
                            threads=settings.get_int("MAPPING_THREADS"))
    wall = time.perf_counter() - started
    return {"seconds": wall, "orders": count_elements(Path(output), "SalesOrder"), "peak_rss_mb": peak_rss_mb()}


def bench_raw_lxml(path: str, output: str) -> dict:
    from lxml import etree

    from amazon_sage import settings

    started = time.perf_counter()
    transform = etree.XSLT(etree.parse(str(settings.mapping_path("ORDERS_MAPPING"))))
    params = {k: etree.XSLT.strparam(v) for k, v in settings.orders_mapping_parameters().items()}
    transform(etree.parse(path), **params).write_output(output)
    return {"seconds": time.perf_counter() - started, "peak_rss_mb": peak_rss_mb()}


# -- 3. import ---------------------------------------------------------------------------------------

def bench_import(zynk: str, company: str, folder: str) -> dict:
    import pyodbc

    from amazon_sage import settings
    from amazon_sage.core.sage.order_import import import_sales_orders
    from sandbox.sample_company import odbc_connection_string

    def connect():
        return pyodbc.connect(odbc_connection_string(Path(company)), autocommit=False)

    started = time.perf_counter()
    result = import_sales_orders(Path(zynk), Path(folder), connect,
                                 import_statuses={"UNSHIPPED", "PARTIALLY_SHIPPED", "SHIPPED"},
                                 unknown_sku_action="special",
                                 helper_processes=settings.get_int("IMPORT_HELPER_PROCESSES"))
    wall = time.perf_counter() - started
    return {"seconds": wall, "imported": result.imported, "failed": result.failed}


def bench_audit_trail(zynk: str, company: str, folder: str) -> dict:
    """Export the orders as an audit-trail file, then rerun the export over the same orders (all duplicates)."""
    import pyodbc

    from amazon_sage.core.sage.audit_trail.export import ExportSettings, export_audit_trail
    from sandbox.sample_company import odbc_connection_string

    def connect():
        return pyodbc.connect(odbc_connection_string(Path(company)), autocommit=False)

    options = ExportSettings(drop_folder=Path(folder) / "drop", ledger_path=Path(folder) / "ledger.sqlite",
                             import_statuses={"UNSHIPPED", "PARTIALLY_SHIPPED", "SHIPPED"}, department=0,
                             user_name="Amazon", header_row=True, overdue_after=timedelta(hours=48))
    timings = {}
    for run_id in ("first", "rerun"):
        (Path(folder) / run_id).mkdir()
        started = time.perf_counter()
        result = export_audit_trail(Path(zynk), Path(folder) / run_id, connect, options, run_id=run_id)
        timings[run_id] = (time.perf_counter() - started, result.exported, result.duplicates)
    return {"seconds": timings["first"][0], "exported": timings["first"][1], "rerun_seconds": timings["rerun"][0],
            "rerun_duplicates": timings["rerun"][2], "peak_rss_mb": peak_rss_mb()}


def bench_raw_insert(company_done: str, company_raw: str) -> dict:
    """The same SALES_ORDER and SOP_ITEM rows, inserted with plain pyodbc: no parsing, no checks.

    One INSERT per row, of the columns the import wrote (its non-NULL ones), in transactions of
    the import's size.
    """
    import pyodbc

    from amazon_sage.core.sage.order_import import BATCH
    from sandbox.sample_company import odbc_connection_string

    source = sqlite3.connect(company_done)

    def written(query: str) -> list[dict]:
        cursor = source.execute(query)
        names = [d[0] for d in cursor.description]
        return [{k: v for k, v in zip(names, row, strict=True) if v is not None} for row in cursor]

    headers = written("SELECT * FROM SALES_ORDER ORDER BY ORDER_NUMBER")
    by_order: dict[int, list[dict]] = {}
    for item in written("SELECT * FROM SOP_ITEM ORDER BY ORDER_NUMBER, ITEM_NUMBER"):
        by_order.setdefault(item["ORDER_NUMBER"], []).append(item)
    source.close()
    statements = [(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values()))
                  for header in headers
                  for table, row in [("SALES_ORDER", header)] + [("SOP_ITEM", item)
                                                                  for item in by_order.get(header["ORDER_NUMBER"], [])]]
    connection = pyodbc.connect(odbc_connection_string(Path(company_raw)), autocommit=False)
    cursor = connection.cursor()
    started = time.perf_counter()
    orders = 0
    for sql, values in statements:
        cursor.execute(sql, values)
        if sql.startswith("INSERT INTO SALES_ORDER"):
            orders += 1
            if orders % BATCH == 0:
                connection.commit()
    connection.commit()
    wall = time.perf_counter() - started
    connection.close()
    return {"seconds": wall, "orders": len(headers)}


# -- 4. stock ----------------------------------------------------------------------------------------

def bench_stock(company: str, folder: str) -> dict:
    import pyodbc

    from amazon_sage import settings
    from amazon_sage.core.feeds.feed_documents import build_feed_documents
    from amazon_sage.core.mapping.chunked_mapping import apply_mapping_in_chunks
    from amazon_sage.core.sage.stock_export import export_stock, stock_query
    from sandbox.sample_company import odbc_connection_string

    out = Path(folder)
    timings = {}
    started = time.perf_counter()
    connection = pyodbc.connect(odbc_connection_string(Path(company)))
    exported = export_stock(connection, stock_query("All", start=None, end=None), out / "zynk_stock_records.xml")
    connection.close()
    timings["export"] = time.perf_counter() - started
    mapped = apply_mapping_in_chunks(out / "zynk_stock_records.xml", settings.mapping_path("INVENTORY_MAPPING"),
                                     out / "amazon_inventory.xml", settings.inventory_mapping_parameters(),
                                     record="Product", output_records=("message", "rejected"),
                                     threads=settings.get_int("MAPPING_THREADS")).path
    timings["map"] = time.perf_counter() - started - timings["export"]
    build = build_feed_documents(mapped, seller_id="A1EXAMPLESELLER", out_dir=out, stem="amazon_inventory_feed")
    wall = time.perf_counter() - started
    timings["feed"] = wall - timings["export"] - timings["map"]
    return {"seconds": wall, "products": exported, "messages": build.messages, "documents": len(build.documents),
            "timings": timings, "peak_rss_mb": peak_rss_mb()}


def bench_prices_per_marketplace(company: str, folder: str) -> dict:
    """The prices path for every product on UK, DE, FR, IT and SE: export with prices, map, feed documents."""
    from decimal import Decimal

    import pyodbc

    from amazon_sage import settings
    from amazon_sage.core.feeds.feed_documents import build_feed_documents
    from amazon_sage.core.feeds.marketplace_prices import PriceMarket
    from amazon_sage.core.mapping.chunked_mapping import apply_mapping_in_chunks
    from amazon_sage.core.marketplaces import MARKETPLACES
    from amazon_sage.core.sage.stock_export import MarketplacePricing, export_stock, read_exchange_rates, stock_query
    from sandbox.sample_company import odbc_connection_string

    out = Path(folder)
    started = time.perf_counter()
    connection = pyodbc.connect(odbc_connection_string(Path(company)))
    rates = read_exchange_rates(connection)
    vat = {"UK": 20, "DE": 19, "FR": 20, "IT": 22, "SE": 25}
    pricing = MarketplacePricing([PriceMarket(MARKETPLACES[c].marketplace_id, MARKETPLACES[c].currency,
                                              Decimal(v), rates.get(MARKETPLACES[c].currency))
                                  for c, v in vat.items()], Decimal(20), False)
    exported = export_stock(connection, stock_query("All", start=None, end=None), out / "zynk_stock_records.xml",
                            pricing=pricing)
    connection.close()
    export = time.perf_counter() - started
    mapped = apply_mapping_in_chunks(out / "zynk_stock_records.xml", settings.mapping_path("PRICES_MAPPING"),
                                     out / "amazon_prices.xml", settings.prices_mapping_parameters(),
                                     record="Product", output_records=("message", "rejected"),
                                     threads=settings.get_int("MAPPING_THREADS")).path
    build = build_feed_documents(mapped, seller_id="A1EXAMPLESELLER", out_dir=out, stem="amazon_prices_feed")
    wall = time.perf_counter() - started
    return {"seconds": wall, "export_seconds": export, "products": exported, "marketplaces": len(vat),
            "messages": build.messages, "documents": len(build.documents), "peak_rss_mb": peak_rss_mb()}


def make_stock_company(path: str, count: int) -> dict:
    from sandbox.sample_company import create_company

    create_company(Path(path))
    database = sqlite3.connect(path)  # set-up only: the benchmark itself reads through ODBC
    now = datetime(2026, 11, 1, 9, 0)
    database.executemany(
        "INSERT INTO STOCK (STOCK_CODE, DESCRIPTION, SALES_PRICE, QTY_IN_STOCK, QTY_ALLOCATED, QTY_ON_ORDER, TAX_CODE, "
        "WEB_PUBLISH, RECORD_CREATE_DATE, RECORD_MODIFY_DATE, RECORD_DELETED) "
        "VALUES (?, ?, ?, ?, ?, 0, 'T1', 1, ?, ?, 0)",
        ((f"BENCH-{n:06d}", f"Benchmark product {n}", 1 + n % 500 / 10, n % 97, n % 5, now, now) for n in range(count)))
    database.commit()
    database.close()
    return {"products": count}


# -- 5. one whole DAG run ----------------------------------------------------------------------------

def bench_dag(orders: int) -> dict:
    from sandbox.order_generator import generate_orders
    from sandbox.sample_company import create_company
    from sandbox.sp_api_server import Sandbox, SandboxServer

    home = Path(tempfile.mkdtemp(prefix="bench-dag-"))
    company = create_company(home / "company.db")
    versions = generate_orders(orders, START, days=1)
    with SandboxServer(Sandbox(versions)) as server:
        env = {**os.environ, **airflow_environment(home, sandbox_url=server.url, company=company)}
        airflow = str(Path(sys.executable).with_name("airflow"))
        subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
        started = time.perf_counter()
        done = subprocess.run([airflow, "dags", "test", "amazon_orders_to_sage", "--conf",
                               json.dumps({"download_from": "2026-09-30T00:00:00Z",
                                           "download_to": "2026-10-03T00:00:00Z"})],
                              env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(done.stdout[-3000:])
    database = sqlite3.connect(home / "airflow.db")
    durations = dict(database.execute("SELECT task_id, (julianday(end_date) - julianday(start_date)) * 86400 "
                                      "FROM task_instance WHERE dag_id = 'amazon_orders_to_sage'").fetchall())
    database.close()
    shutil.rmtree(home)
    inside = sum(durations.values())
    return {"seconds": wall, "task_seconds": durations, "overhead_share": 1 - inside / wall}


def run(quick: bool) -> dict:
    results: dict = {}
    rows: list[tuple[str, str, str]] = []
    orders = 1_000 if quick else 10_000
    rate, burst = (10.0, 5) if quick else (2.0, 5)

    for mode, key in (("smart", "download_efficiency"), ("throttled", "download_efficiency_with_429"),
                      ("fixed_delay", "fixed_delay_efficiency")):
        figure = child("bench_download", str(orders), str(rate), str(burst), mode)
        results[key] = round(figure["efficiency"], 3)
        rows.append((key, f"{figure['efficiency']:.3f}",
                     f"{figure['pages']} pages in {figure['wall']:.1f}s, bound {figure['lower_bound']:.1f}s, "
                     f"{figure['throttled']} throttled"))

    with tempfile.TemporaryDirectory() as scratch:
        source = f"{scratch}/amazon_orders.xml"
        made = child("make_orders_file", str(orders), source)
        mapped = child("bench_map", source, f"{scratch}/zynk_orders.xml")
        raw = child("bench_raw_lxml", source, f"{scratch}/raw.xml")
        results["map_orders_per_s"] = round(made["orders"] / mapped["seconds"])
        results["map_vs_raw_lxml"] = round(raw["seconds"] / mapped["seconds"], 3)
        rows.append(("map_orders_per_s", str(results["map_orders_per_s"]), f"{made['orders']} orders"))
        rows.append(("map_vs_raw_lxml", str(results["map_vs_raw_lxml"]),
                     f"raw parse+transform+write {raw['seconds']:.2f}s"))

        big = f"{scratch}/big_orders.xml"
        big_count = child("make_orders_file", str(10 * orders), big)["orders"]
        big_map = child("bench_map", big, f"{scratch}/big_zynk.xml")
        results["map_peak_rss_mb_100k"] = round(big_map["peak_rss_mb"])
        rows.append(("map_peak_rss_mb_100k", str(results["map_peak_rss_mb_100k"]), f"{big_count} orders"))

        from sandbox.sample_company import create_company

        company = create_company(Path(scratch) / "company.db")
        (Path(scratch) / "run").mkdir()
        imported = child("bench_import", f"{scratch}/zynk_orders.xml", str(company), f"{scratch}/run")
        raw_company = Path(scratch) / "raw.db"
        create_company(raw_company)
        raw_insert = child("bench_raw_insert", str(company), str(raw_company))
        results["import_orders_per_s"] = round(imported["imported"] / imported["seconds"])
        results["import_vs_raw"] = round(raw_insert["seconds"] / imported["seconds"], 3)
        rows.append(("import_orders_per_s", str(results["import_orders_per_s"]),
                     f"{imported['imported']} imported, transactions of whole orders"))
        rows.append(("import_vs_raw", str(results["import_vs_raw"]), f"raw pyodbc {raw_insert['seconds']:.2f}s"))

        (Path(scratch) / "audit").mkdir()
        audit = child("bench_audit_trail", f"{scratch}/zynk_orders.xml", str(raw_company), f"{scratch}/audit")
        results["audit_trail_orders_per_s"] = round(audit["exported"] / audit["seconds"])
        results["audit_trail_rerun_orders_per_s"] = round(audit["rerun_duplicates"] / audit["rerun_seconds"])
        rows.append(("audit_trail_orders_per_s", str(results["audit_trail_orders_per_s"]),
                     f"{audit['exported']} SIs exported, peak RSS {audit['peak_rss_mb']:.0f} MB"))
        rows.append(("audit_trail_rerun_orders_per_s", str(results["audit_trail_rerun_orders_per_s"]),
                     f"{audit['rerun_duplicates']} skipped as exported before"))

        stock_company = f"{scratch}/stock.db"
        child("make_stock_company", stock_company, str(10 * orders))
        (Path(scratch) / "stock").mkdir()
        stock = child("bench_stock", stock_company, f"{scratch}/stock")
        results["stock_100k_seconds"] = round(stock["seconds"], 2)
        results["stock_peak_rss_mb"] = round(stock["peak_rss_mb"])
        rows.append(("stock_100k_seconds", str(results["stock_100k_seconds"]),
                     f"{stock['products']} products, {stock['documents']} feeds; "
                     + ", ".join(f"{k} {v:.1f}s" for k, v in stock["timings"].items())))
        rows.append(("stock_peak_rss_mb", str(results["stock_peak_rss_mb"]), ""))
        (Path(scratch) / "prices5").mkdir()
        prices = child("bench_prices_per_marketplace", stock_company, f"{scratch}/prices5")
        results["prices_100k_x5_seconds"] = round(prices["seconds"], 2)
        rows.append(("prices_100k_x5_seconds", str(results["prices_100k_x5_seconds"]),
                     f"{prices['products']} products x {prices['marketplaces']} marketplaces: {prices['messages']} "
                     f"messages in {prices['documents']} feeds (so {prices['documents']} of the region's 5 per 5 "
                     f"minutes); export {prices['export_seconds']:.1f}s, peak RSS {prices['peak_rss_mb']:.0f} MB"))

    dag = child("bench_dag", "100")
    results["dag_run_seconds_100_orders"] = round(dag["seconds"], 2)
    results["dag_overhead_share"] = round(dag["overhead_share"], 3)
    rows.append(("dag_run_seconds_100_orders", str(results["dag_run_seconds_100_orders"]), "airflow dags test"))
    rows.append(("dag_overhead_share", str(results["dag_overhead_share"]),
                 ", ".join(f"{k} {v:.2f}s" for k, v in dag["task_seconds"].items())))

    width = max(len(r[0]) for r in rows)
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    for key, value, note in rows:
        print(f"{key:<{width}}  {value:>10}  {note}")
    return results


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        print(json.dumps(globals()[sys.argv[2]](*[int(a) if a.isdigit() else _num(a) for a in sys.argv[3:]])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    results = run(parser.parse_args().quick)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(f"Wrote {RESULTS}")


def _num(text: str):
    try:
        return float(text)
    except ValueError:
        return text


if __name__ == "__main__":
    main()
