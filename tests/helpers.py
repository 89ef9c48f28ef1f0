"""Test helpers that build real inputs (generated orders, mapped with the real mapping) and read Sage."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyodbc

from amazon_sage import settings
from amazon_sage.core.archive.encryption import ArchiveKeyring, decrypt_stream
from amazon_sage.core.mapping.xslt import apply_mapping
from amazon_sage.core.orders.amazon_orders_xml import write_orders_xml
from sandbox.order_generator import generate_orders
from sandbox.sample_company import odbc_connection_string

ORDERS_START = datetime(2026, 11, 16, tzinfo=UTC)
IMPORTED = {"UNSHIPPED", "PARTIALLY_SHIPPED", "SHIPPED"}


def latest_versions(versions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for version in versions:
        latest[version["orderId"]] = version
    return list(latest.values())


def mapped_orders(folder: Path, count: int = 40, seed: int = 20261126,
                  versions: list[dict[str, Any]] | None = None) -> tuple[Path, list[dict[str, Any]]]:
    """Generate (or take) orders, render and map them; return the Zynk file and the orders."""
    folder.mkdir(parents=True, exist_ok=True)
    orders = versions if versions is not None else latest_versions(generate_orders(count, ORDERS_START, seed=seed))
    source = folder / "amazon_orders.xml"
    write_orders_xml([{"orders": orders}], source, window={})
    target = apply_mapping(source, settings.mapping_path("ORDERS_MAPPING"), folder / "zynk_orders.xml",
                           settings.orders_mapping_parameters())
    return target, orders


def archived_zip(archive: Path, keys: ArchiveKeyring | None = None) -> zipfile.ZipFile:
    """The zip sealed in encrypted archive ``archive``, decrypted in memory.

    With the key connection the product reads (the session's key) unless ``keys`` are given.
    """
    from amazon_sage.hooks.archive_destination import archive_keyring

    plain = io.BytesIO()
    decrypt_stream(archive, keys or archive_keyring(), plain.write)
    return zipfile.ZipFile(plain)


def sage_rows(company: Path, sql: str, *params: Any) -> list[dict[str, Any]]:
    connection = pyodbc.connect(odbc_connection_string(company), autocommit=True)
    try:
        cursor = connection.execute(sql, *params)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        connection.close()


def helper_pids(zynk: Path) -> list[int]:
    """Live import helper processes reading ``zynk`` (they name their input on their command line)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and f"order reader for {zynk}".encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue  # it ended while we looked
    return found


def money(value: float) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def assert_sage_matches_amazon(company: Path, orders: list[dict[str, Any]]) -> None:
    """Each importable order is in Sage exactly once, row by row, with totals to the penny."""
    headers = sage_rows(company, "SELECT * FROM SALES_ORDER ORDER BY ORDER_NUMBER")
    by_id: dict[str, list[dict[str, Any]]] = {}
    for header in headers:
        by_id.setdefault(header["CUST_ORDER_NUMBER"], []).append(header)
    assert all(len(rows) == 1 for rows in by_id.values()), "an order is in Sage twice"
    known = {row["STOCK_CODE"] for row in sage_rows(company, "SELECT STOCK_CODE FROM STOCK")}
    expected = [o for o in orders if o["fulfillment"]["fulfillmentStatus"] in IMPORTED
                and all(i["product"]["sellerSku"] in known for i in o["orderItems"])]
    assert set(by_id) == {o["orderId"] for o in expected}
    for order in expected:
        header = by_id[order["orderId"]][0]
        items = sage_rows(company, "SELECT * FROM SOP_ITEM WHERE ORDER_NUMBER = ? ORDER BY ITEM_NUMBER",
                          header["ORDER_NUMBER"])
        assert [i["STOCK_CODE"] for i in items] == [i["product"]["sellerSku"] for i in order["orderItems"]]
        assert [i["QTY_ORDER"] for i in items] == [i["quantityOrdered"] for i in order["orderItems"]]
        charged = Decimal(order["proceeds"]["grandTotal"]["amount"])
        assert money(header["INVOICE_GROSS"]) == charged, order["orderId"]
        items_net = sum(money(i["NET_AMOUNT"]) for i in items)
        items_tax = sum(money(i["TAX_AMOUNT"]) for i in items)
        assert (money(header["ITEMS_NET"]), money(header["ITEMS_TAX"])) == (items_net, items_tax)
        assert items_net + items_tax + money(header["CARR_NET"]) + money(header["CARR_TAX"]) == charged
        for item in items:
            assert money(item["NET_AMOUNT"]) + money(item["TAX_AMOUNT"]) == money(item["GROSS_AMOUNT"])
        address = order["recipient"]["deliveryAddress"]
        assert header["DEL_ADDRESS_5"] == address["postalCode"]
        assert header["DEL_ADDRESS_3"].endswith(address["city"])
        assert all(len(header[f"DEL_ADDRESS_{n}"] or "") <= 60 for n in range(1, 6))
        assert header["ACCOUNT_REF"] == "AMAZON"


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def run_dag(dag: Any, **kwargs: Any) -> tuple[Any, dict[str, str]]:
    """``dag.test(**kwargs)``: the run and each task's final state."""
    run = dag.test(**kwargs)
    return run, {ti.task_id: ti.state for ti in run.get_task_instances()}


def parse_dags() -> dict[str, Any]:
    """The project's DAGs, parsed fresh from dags/ (so settings in the environment apply)."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(Path(__file__).resolve().parents[1] / "dags"))
    assert bag.import_errors == {}
    return bag.dags


def import_unshipped_orders(sandbox: Any, folder: Path) -> list[dict[str, Any]]:
    """The sandbox's UNSHIPPED orders whose SKUs Sage has, imported into Sage by the real import; returns them."""
    from amazon_sage.core.sage.order_import import import_sales_orders
    from amazon_sage.hooks.sage50 import Sage50Hook
    from sandbox.catalogue import CATALOGUE

    in_sage = {p.sku for p in CATALOGUE if p.in_sage}
    orders = [o for o in latest_versions([v for h in sandbox.state.versions.values() for v in h])
              if o["fulfillment"]["fulfillmentStatus"] == "UNSHIPPED"
              and all(i["product"]["sellerSku"] in in_sage for i in o["orderItems"])]
    zynk, _ = mapped_orders(folder, versions=orders)
    result = import_sales_orders(zynk, folder, Sage50Hook().connect, import_statuses={"UNSHIPPED"})
    assert result.counts().records_out == len(orders) >= 6
    return orders


def confirmed_by_sku(sandbox: Any, order: dict[str, Any]) -> dict[str, int]:
    """SKU -> units the sandbox's Amazon has accepted as shipped for ``order``, over all its packages."""
    skus = {i["orderItemId"]: i["product"]["sellerSku"] for i in order["orderItems"]}
    return {skus[item]: units for item, units in sandbox.confirmed_quantities(order["orderId"]).items()}


def despatched_in_sage(company: Path, order_id: str) -> dict[str, int]:
    """SKU -> units Sage has despatched of the order with CUST_ORDER_NUMBER ``order_id`` (lines with none left out)."""
    rows = sage_rows(company, "SELECT STOCK_CODE, QTY_DELIVERED FROM SOP_ITEM JOIN SALES_ORDER USING (ORDER_NUMBER) "
                              "WHERE CUST_ORDER_NUMBER = ?", order_id)
    return {row["STOCK_CODE"]: int(row["QTY_DELIVERED"]) for row in rows if row["QTY_DELIVERED"]}


def assert_confirmed_exactly_once(company: Path, sandbox: Any, orders: list[dict[str, Any]]) -> None:
    """Every unit Sage despatched of ``orders`` is confirmed on Amazon once: no more, no less."""
    for order in orders:
        assert confirmed_by_sku(sandbox, order) == despatched_in_sage(company, order["orderId"]), order["orderId"]
