"""Upload Shipments below Airflow: Sage despatches exported over ODBC, mapped, confirmed to the sandbox exactly once.

Real parts throughout: the sample company through pyodbc and unixODBC's SQLite3 driver, the
real mapping, and SellingPartnerHook over HTTP to the sandbox, which refuses units confirmed twice.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path

import pyodbc
import pytest
from lxml import etree

from amazon_sage import settings
from amazon_sage.core.mapping.xslt import apply_mapping
from amazon_sage.core.sage.despatch_export import despatched_statuses, export_despatches
from amazon_sage.core.shipments.confirm_shipments import confirm_shipments, ship_date
from amazon_sage.core.shipments.shipment_plan import Decided, Planned, plan_shipment
from amazon_sage.hooks.selling_partner import SellingPartnerHook
from sandbox.sample_company import despatch_order, odbc_connection_string
from tests.helpers import assert_confirmed_exactly_once, import_unshipped_orders

WINDOW = {"start": datetime(2026, 11, 20, tzinfo=UTC), "end": datetime(2026, 11, 21, tzinfo=UTC)}


def at(hour: int, minute: int = 0, day: int = 20) -> datetime:
    return datetime(2026, 11, day, hour, minute)  # naive, as Sage stores times


@pytest.fixture
def sage_orders(sandbox_server, company, product_env, tmp_path) -> list[dict]:
    return import_unshipped_orders(sandbox_server.sandbox, tmp_path / "import")


def _multi_unit(orders: list[dict]) -> dict:
    return next(o for o in orders if sum(i["quantityOrdered"] for i in o["orderItems"]) >= 3)


def _export_map_confirm(company: Path, folder: Path, **window) -> tuple:
    """Export (the window) -> map -> confirm, as the DAG's three phases do; returns the result."""
    folder.mkdir(parents=True, exist_ok=True)
    connection = pyodbc.connect(odbc_connection_string(company))
    try:
        export_despatches(connection, folder / "zynk_despatches.xml", statuses=despatched_statuses("Complete,Part"),
                          **(window or WINDOW))
    finally:
        connection.close()
    apply_mapping(folder / "zynk_despatches.xml", settings.mapping_path("DESPATCHES_MAPPING"),
                  folder / "amazon_shipments.xml", settings.despatches_mapping_parameters())
    return confirm_shipments(folder / "amazon_shipments.xml", folder, SellingPartnerHook())


def _records(path: Path) -> dict[str, etree._Element]:
    return {r.findtext("orderId"): r for r in etree.parse(str(path)).getroot().iter("Shipment")}


def test_export_takes_orders_despatched_in_the_window_with_cumulative_quantities(sage_orders, company,
                                                                                 tmp_path) -> None:
    full, part, outside, untouched = sage_orders[:4]
    despatch_order(company, full["orderId"], courier="Royal Mail", consignment="RM1", when=at(9))
    sku, _ = next((i["product"]["sellerSku"], i["quantityOrdered"]) for i in part["orderItems"])
    despatch_order(company, part["orderId"], {sku: 1}, courier="DPD", consignment="DPD1", when=at(10))
    despatch_order(company, outside["orderId"], courier="Evri", consignment="H1", when=at(10, day=22))
    connection = pyodbc.connect(odbc_connection_string(company))
    try:
        count = export_despatches(connection, tmp_path / "d.xml", statuses={"COMPLETE", "PART"}, **WINDOW)
    finally:
        connection.close()
    orders = {o.findtext("CustomerOrderNumber"): o for o in etree.parse(str(tmp_path / "d.xml")).iter("SalesOrder")}
    assert count == 2 and set(orders) == {full["orderId"], part["orderId"]}  # not outside, not untouched
    assert untouched["orderId"] not in orders
    assert orders[full["orderId"]].findtext("DespatchStatus") == "Complete"
    assert orders[part["orderId"]].findtext("DespatchStatus") == "Part"
    assert (orders[part["orderId"]].findtext("CourierName"), orders[part["orderId"]].findtext("ConsignmentNo"),
            orders[part["orderId"]].findtext("DespatchDate")) == ("DPD", "DPD1", "2026-11-20")
    lines = {i.findtext("Sku"): i.findtext("QtyDespatched") for i in orders[part["orderId"]].iter("Item")}
    assert lines[sku] == "1" and all(v == "0" for s, v in lines.items() if s != sku)
    assert {i.findtext("Sku"): i.findtext("QtyDespatched") for i in orders[full["orderId"]].iter("Item")} == {
        i["product"]["sellerSku"]: str(i["quantityOrdered"]) for i in full["orderItems"]}


def _zynk_despatch(path: Path, couriers: list[str]) -> Path:
    orders = "".join(f"<SalesOrder><SalesOrderNumber>{n}</SalesOrderNumber><CustomerOrderNumber>202-000000{n}-0000001"
                     f"</CustomerOrderNumber><DespatchStatus>Complete</DespatchStatus><DespatchDate>2026-11-20"
                     f"</DespatchDate><ConsignmentNo> T{n} </ConsignmentNo><CourierName>{c}</CourierName>"
                     f"<DateModified>2026-11-{20 + n % 2}T09:30:00</DateModified><SalesOrderItems><Item><Sku>A</Sku>"
                     "<QtyOrdered>2</QtyOrdered><QtyDespatched>2</QtyDespatched></Item></SalesOrderItems></SalesOrder>"
                     for n, c in enumerate(couriers))
    path.write_text(f"<Company><SalesOrders>{orders}</SalesOrders></Company>")
    return path


def test_the_mapping_maps_couriers_by_the_table_and_sends_unknown_ones_as_other(tmp_path) -> None:
    couriers = ["Royal Mail Tracked 24", "  royal   MAIL ", "Hermes", "DPD Next Day", "Bob's Vans", "UPSilon Couriers",
                "Amazon Shipping", ""]
    source = _zynk_despatch(tmp_path / "z.xml", couriers)
    out = apply_mapping(source, settings.mapping_path("DESPATCHES_MAPPING"), tmp_path / "a.xml",
                        settings.despatches_mapping_parameters())
    shipments = list(etree.parse(str(out)).iter("Shipment"))
    got = [(s.findtext("carrierCode"), s.findtext("carrierName"), s.findtext("shippingMethod")) for s in shipments]
    assert got == [("Royal Mail", None, "Royal Mail Tracked 24"), ("Royal Mail", None, "royal MAIL"),
                   ("Evri", None, "Hermes"), ("DPD", None, "DPD Next Day"), ("Other", "Bob's Vans", "Bob's Vans"),
                   ("Other", "UPSilon Couriers", "UPSilon Couriers"), ("Amazon Shipping", None, "Amazon Shipping"),
                   ("Other", "", None)]
    assert [s.findtext("trackingNumber") for s in shipments][:2] == ["T0", "T1"]
    # Stamped on the despatch day: that time; otherwise noon of the despatch day.
    assert [s.findtext("shipDate") for s in shipments][:2] == ["2026-11-20T09:30:00Z", "2026-11-20T12:00:00Z"]
    assert shipments[0].find("shipFromSupplySourceId") is None

    custom = apply_mapping(source, settings.mapping_path("DESPATCHES_MAPPING"), tmp_path / "b.xml",
                           {"CarrierCodes": "Bob's Vans=Bobs;Royal Mail Tracked=RM Tracked",
                            "ShipFromSupplySourceId": "057d3fcc"})
    codes = [s.findtext("carrierCode") for s in etree.parse(str(custom)).iter("Shipment")]
    assert codes[:5] == ["RM Tracked", "Other", "Other", "Other", "Bobs"]
    assert etree.parse(str(custom)).findtext("Shipment/shipFromSupplySourceId") == "057d3fcc"


def _amazon_order(items: list[tuple[str, str, int, int]], status: str = "PARTIALLY_SHIPPED", **order) -> dict:
    return {"orderId": "202-1000000-0000001", "fulfillment": {"fulfillmentStatus": status, "fulfilledBy": "MERCHANT"},
            "orderItems": [{"orderItemId": item_id, "quantityOrdered": ordered, "product": {"sellerSku": sku},
                            "fulfillment": {"quantityFulfilled": done, "quantityUnfulfilled": ordered - done}}
                           for item_id, sku, ordered, done in items], **order}


def test_a_ship_date_ahead_of_now_is_sent_as_now() -> None:
    now = datetime(2026, 7, 1, 9, 30, tzinfo=UTC)
    assert ship_date("2026-07-01T10:15:00Z", now) == "2026-07-01T09:30:00Z"  # Sage's BST clock read as UTC
    assert ship_date("2026-07-01T08:15:00Z", now) == "2026-07-01T08:15:00Z"
    assert ship_date("2026-07-01T08:15:00", now) == "2026-07-01T08:15:00"
    assert ship_date("01/07/2026", now) == "01/07/2026"  # Amazon says what is wrong with it


def test_the_plan_confirms_only_what_amazon_does_not_count_as_shipped() -> None:
    order = _amazon_order([("1", "A", 2, 1), ("2", "A", 3, 0), ("3", "B", 1, 0)], packages=[
        {"packageReferenceId": "1"}, {"packageReferenceId": "7"}, {"packageReferenceId": "x"}])
    planned = plan_shipment({"A": 4, "B": 0}, order)
    assert isinstance(planned, Planned) and planned.package_reference_id == "8"
    assert planned.items == [{"orderItemId": "1", "quantity": 1}, {"orderItemId": "2", "quantity": 2}]
    over = plan_shipment({"A": 9, "C": 1}, order)
    assert over.items[-1] == {"orderItemId": "2", "quantity": 3} and len(over.warnings) == 2
    assert plan_shipment({"A": 1, "B": 0}, order) == Decided(
        "skip", "Amazon already counts every despatched unit as shipped (A 1, B 0): nothing left to confirm")
    assert plan_shipment({"C": 2}, order).kind == "fail"
    unknown = copy.deepcopy(order)
    del unknown["orderItems"][2]["fulfillment"]
    assert plan_shipment({"B": 1}, unknown).kind == "fail"  # Amazon did not say: never guess
    for status, kind in (("SHIPPED", "skip"), ("CANCELLED", "skip"), ("PENDING", "fail")):
        assert plan_shipment({"A": 5}, _amazon_order([("1", "A", 5, 0)], status)).kind == kind
    fba = _amazon_order([("1", "A", 5, 0)], "UNSHIPPED")
    fba["fulfillment"]["fulfilledBy"] = "AMAZON"
    assert "FBA" in plan_shipment({"A": 5}, fba).reason


def test_full_part_and_repeated_despatches_are_each_confirmed_once(sage_orders, company, sandbox_server,
                                                                   tmp_path) -> None:
    sandbox = sandbox_server.sandbox
    part = _multi_unit(sage_orders)
    full = next(o for o in sage_orders if o is not part)
    first_sku = part["orderItems"][0]["product"]["sellerSku"]
    despatch_order(company, full["orderId"], courier="Royal Mail 1st Class", consignment="RM100", when=at(9))
    despatch_order(company, part["orderId"], {first_sku: 1}, courier="DPD", consignment="DPD1", when=at(10))
    first = _export_map_confirm(company, tmp_path / "run1")
    assert (first.confirmed, first.units, first.failures) == (2, sum(
        i["quantityOrdered"] for i in full["orderItems"]) + 1, [])
    assert_confirmed_exactly_once(company, sandbox, [full, part])
    status = {o["orderId"]: sandbox._current_order(o["orderId"])["fulfillment"]["fulfillmentStatus"]
              for o in (full, part)}
    assert status == {full["orderId"]: "SHIPPED", part["orderId"]: "PARTIALLY_SHIPPED"}
    success = _records(first.success_file)
    assert success[part["orderId"]].findtext("confirmation/item/quantity") == "1"
    assert success[full["orderId"]].findtext("carrierCode") == "Royal Mail"

    # The same window again: Amazon counts it all, nothing is sent.
    again = _export_map_confirm(company, tmp_path / "run2")
    assert (again.confirmed, again.skipped) == (0, 2)
    assert "already" in _records(again.skipped_file)[full["orderId"]].findtext("Warnings/Warning/Description")

    # The rest of the part order, despatched later with a new consignment; a window covering both despatches.
    despatch_order(company, part["orderId"], courier="DPD", consignment="DPD2", when=at(15))
    rest = _export_map_confirm(company, tmp_path / "run3")
    assert rest.confirmed == 1 and rest.units == sum(i["quantityOrdered"] for i in part["orderItems"]) - 1
    assert_confirmed_exactly_once(company, sandbox, [full, part])
    second = sandbox.confirmations[-1]
    assert (second["trackingNumber"], second["packageReferenceId"]) == ("DPD2", "2")
    assert _export_map_confirm(company, tmp_path / "run4").confirmed == 0


def test_unknown_couriers_fba_cancelled_and_non_amazon_orders(sage_orders, company, sandbox_server,
                                                              tmp_path) -> None:
    sandbox = sandbox_server.sandbox
    van, fba, cancelled, untracked = sage_orders[:4]
    for order, status, by in ((fba, "UNSHIPPED", "AMAZON"), (cancelled, "CANCELLED", "MERCHANT")):
        changed = copy.deepcopy(order)
        changed["fulfillment"].update(fulfillmentStatus=status, fulfilledBy=by)
        sandbox.add_versions([changed])
    for order in (van, fba, cancelled):
        despatch_order(company, order["orderId"], courier="Bob's Vans", consignment="BV-9", when=at(11))
    despatch_order(company, untracked["orderId"], courier="Royal Mail", consignment="", when=at(11))
    connection = pyodbc.connect(odbc_connection_string(company))
    connection.execute("INSERT INTO SALES_ORDER (ORDER_NUMBER, CUST_ORDER_NUMBER, ACCOUNT_REF, RECORD_DELETED) "
                       "VALUES (900, 'PO-778', 'TRADE1', 0)")
    connection.execute("INSERT INTO SOP_ITEM (ORDER_NUMBER, ITEM_NUMBER, STOCK_CODE, QTY_ORDER) "
                       "VALUES (900, 1, 'MUG-RED-01', 4)")
    connection.commit()
    connection.close()
    despatch_order(company, "PO-778", courier="Yodel", consignment="Y1", when=at(12))

    result = _export_map_confirm(company, tmp_path / "run")
    assert (result.records, result.confirmed, result.skipped, len(result.failures)) == (5, 1, 3, 1)
    [confirmation] = sandbox.confirmations
    assert (confirmation["orderId"], confirmation["carrierCode"], confirmation["carrierName"]) == (
        van["orderId"], "Other", "Bob's Vans")
    skipped = {k: r.findtext("Warnings/Warning/Description") for k, r in _records(result.skipped_file).items()}
    assert "FBA" in skipped[fba["orderId"]] and "cancelled" in skipped[cancelled["orderId"]]
    assert "not an Amazon order" in skipped["PO-778"]
    failed = _records(result.fail_file)[untracked["orderId"]].findtext("Errors/Error/Description")
    assert "tracking" in failed


def test_a_lost_answer_is_settled_by_reading_amazon_never_by_sending_again(sage_orders, company, sandbox_server,
                                                                           tmp_path) -> None:
    sandbox = sandbox_server.sandbox
    taken, lost = sage_orders[:2]
    for order in (taken, lost):
        despatch_order(company, order["orderId"], courier="UPS", consignment="1Z", when=at(9))
    # The first confirmation takes effect and its answer is lost; the second is lost before Amazon sees it.
    sandbox.configure({"faults": [{"operation": "confirmShipment", "kind": "drop_after_processing", "count": 1},
                                  {"operation": "confirmShipment", "kind": "drop", "after": 1, "count": 1}]})
    first = _export_map_confirm(company, tmp_path / "run")
    assert first.confirmed == 1 and first.unsettled == [sage_orders[1]["orderId"]]
    assert "lost" in _records(first.success_file)[taken["orderId"]].findtext("confirmation/note")
    assert sandbox.state.calls["confirmShipment"] == 2  # neither was sent twice
    # The task's retry: the same input, the same folder. Amazon's count decides.
    retry = confirm_shipments(tmp_path / "run" / "amazon_shipments.xml", tmp_path / "run", SellingPartnerHook())
    assert (retry.confirmed, retry.unsettled, len(sandbox.confirmations)) == (2, [], 2)
    notes = {k: r.findtext("confirmation/note") for k, r in _records(retry.success_file).items()}
    assert "earlier try" in notes[taken["orderId"]] and notes[lost["orderId"]] is None  # its file lists both
    assert_confirmed_exactly_once(company, sandbox, [taken, lost])


def test_a_despatch_is_confirmed_in_its_orders_own_marketplace(company, product_env, tmp_path, monkeypatch) -> None:
    """A connection serving UK and DE: a DE order's shipment goes to confirmShipment with DE's marketplace id."""
    from sandbox.airflow_env import sp_api_connection
    from sandbox.order_generator import generate_orders
    from sandbox.sp_api_server import Sandbox, SandboxServer
    from tests.helpers import ORDERS_START

    monkeypatch.setenv("AMAZON_SAGE_MARKETPLACE_ACCOUNTS", "EUR=AMAZONEU")
    monkeypatch.setenv("AMAZON_SAGE_MARKETPLACE_TAX", "DE=T20:19")
    with SandboxServer(Sandbox(generate_orders(60, ORDERS_START, marketplaces=("UK", "DE")))) as server:
        monkeypatch.setenv("AIRFLOW_CONN_AMAZON_SP_API_DEFAULT",
                           sp_api_connection(server.url, "Atzr|de-despatch", marketplace="UK,DE"))
        orders = import_unshipped_orders(server.sandbox, tmp_path / "import")
        german = next(o for o in orders if o["salesChannel"]["marketplaceId"] == "A1PA6795UKMFR9")
        despatch_order(company, german["orderId"], courier="DHL", consignment="DHL-DE-1", when=at(9))
        result = _export_map_confirm(company, tmp_path / "run")
        assert result.counts().records_out == 1
        assert_confirmed_exactly_once(company, server.sandbox, [german])
