"""Selling across Europe: orders of several marketplaces, each to its Sage account, in its currency, at its VAT rate.

Real parts: the sandbox's generated orders in GBP, EUR, SEK and PLN, the real orders mapping with
the per-marketplace settings, the import into the sample company (its CURRENCY table holds Sage's
rates), and Sage's rows read back and checked line by line in both currencies.
"""

from __future__ import annotations

import sqlite3
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from amazon_sage import settings
from amazon_sage.core.marketplaces import (
    MarketplaceError,
    account_table,
    chosen_marketplaces,
    parse_marketplaces,
    tax_table,
)
from amazon_sage.core.sage.order_import import import_sales_orders
from amazon_sage.hooks.sage50 import Sage50Hook
from amazon_sage.hooks.selling_partner import SellingPartnerHook
from sandbox.order_generator import generate_orders
from sandbox.sp_api_server import Sandbox, SandboxServer
from tests.helpers import IMPORTED, ORDERS_START, latest_versions, mapped_orders, money, sage_rows

MARKETS = ("UK", "DE", "FR", "SE", "PL")
ACCOUNTS = {"GBP": "AMAZON", "EUR": "AMAZONEU", "SEK": "AMAZONSE", "PLN": "AMAZONPL"}
VAT = {"A1F83G8C2ARO7P": ("T1", Decimal(20)), "A1PA6795UKMFR9": ("T20", Decimal(19)),
       "A13V1IB3VIYZZH": ("T21", Decimal(20)), "A2NODRKZP88ZB9": ("T22", Decimal(25)),
       "A1C3SOZRARQ6R3": ("T23", Decimal(23))}


@pytest.fixture
def europe(monkeypatch, product_env):
    monkeypatch.setenv("AMAZON_SAGE_MARKETPLACE_ACCOUNTS", "EUR=AMAZONEU,SE=AMAZONSE,PL=AMAZONPL")
    monkeypatch.setenv("AMAZON_SAGE_MARKETPLACE_TAX", "DE=T20:19,FR=T21:20,SE=T22:25,PL=T23:23")
    return latest_versions(generate_orders(60, ORDERS_START, marketplaces=MARKETS))


@pytest.fixture
def feed_dags(monkeypatch, product_env, airflow_db):
    """The stock feed DAGs run once each, without retries, polling their feeds quickly."""
    monkeypatch.setenv("AMAZON_SAGE_TASK_RETRIES", "0")
    monkeypatch.setenv("AMAZON_SAGE_FEED_POLL_SECONDS", "0.1")
    return monkeypatch


def _run_prices(monkeypatch, token: str, marketplaces: str) -> tuple[Any, Any]:
    """Run the prices DAG (export mode All) against a fresh sandbox for ``marketplaces``; return (run, its feeds)."""
    from sandbox.airflow_env import sp_api_connection
    from tests.helpers import parse_dags

    with SandboxServer(Sandbox([])) as server:
        monkeypatch.setenv("AIRFLOW_CONN_AMAZON_SP_API_DEFAULT",
                           sp_api_connection(server.url, token, marketplace=marketplaces))
        run = parse_dags()["sage_stock_to_amazon_prices"].test(run_conf={"export_mode": "All"})
    return run, server.sandbox.feeds_state


def _import(zynk: Path, folder: Path):
    folder.mkdir(parents=True, exist_ok=True)
    return import_sales_orders(zynk, folder, Sage50Hook().connect, import_statuses=IMPORTED)


def _rates(company: Path) -> dict[str, Decimal]:
    return {r["CODE"]: Decimal(str(r["RATE"])) for r in sage_rows(company, "SELECT CODE, RATE FROM CURRENCY")}


def _pennies(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_each_marketplace_posts_to_its_account_in_its_currency_to_the_penny(tmp_path, company, europe) -> None:
    zynk, orders = mapped_orders(tmp_path / "in", versions=europe)
    result = _import(zynk, tmp_path / "run")
    rates, numbers = _rates(company), {r["CODE"]: r["NUMBER"] for r in sage_rows(company, "SELECT * FROM CURRENCY")}
    known = {r["STOCK_CODE"] for r in sage_rows(company, "SELECT STOCK_CODE FROM STOCK")}
    expected = [o for o in orders if o["fulfillment"]["fulfillmentStatus"] in IMPORTED
                and all(i["product"]["sellerSku"] in known for i in o["orderItems"])]
    assert result.imported == len(expected) and {o["proceeds"]["grandTotal"]["currencyCode"] for o in expected} \
        == set(ACCOUNTS)
    headers = {h["CUST_ORDER_NUMBER"]: h for h in sage_rows(company, "SELECT * FROM SALES_ORDER")}
    for order in expected:
        header = headers[order["orderId"]]
        code = order["proceeds"]["grandTotal"]["currencyCode"]
        rate = rates[code]
        assert header["ACCOUNT_REF"] == ACCOUNTS[code] and header["CURRENCY"] == numbers[code]
        assert Decimal(str(header["FOREIGN_RATE"])) == rate
        assert money(header["FOREIGN_INVOICE_GROSS"]) == Decimal(order["proceeds"]["grandTotal"]["amount"])
        tax_code, vat = VAT[order["salesChannel"]["marketplaceId"]]
        items = sage_rows(company, "SELECT * FROM SOP_ITEM WHERE ORDER_NUMBER = ? ORDER BY ITEM_NUMBER",
                          header["ORDER_NUMBER"])
        for item, amazon in zip(items, order["orderItems"], strict=True):
            assert (item["TAX_CODE"], Decimal(str(item["TAX_RATE"]))) == (tax_code, vat)
            foreign_net, foreign_tax = money(item["FOREIGN_NET_AMOUNT"]), money(item["FOREIGN_TAX_AMOUNT"])
            breakdowns = amazon["proceeds"]["breakdowns"]
            paid = sum((Decimal(b["subtotal"]["amount"]) for b in breakdowns if b["type"] == "ITEM"), Decimal(0))
            paid += sum((Decimal(d["value"]["amount"]) for b in breakdowns if b["type"] == "DISCOUNT"
                         for d in b["detailedBreakdowns"] if d["subtype"] == "ITEM"), Decimal(0))
            assert foreign_net + foreign_tax == money(item["FOREIGN_GROSS_AMOUNT"]) == paid
            assert foreign_net == _pennies(paid * 100 / (100 + vat))  # VAT split at the marketplace's rate
            assert money(item["NET_AMOUNT"]) == _pennies(foreign_net / rate)
            assert money(item["TAX_AMOUNT"]) == _pennies(foreign_tax / rate)
            assert money(item["NET_AMOUNT"]) + money(item["TAX_AMOUNT"]) == money(item["GROSS_AMOUNT"])
        base = sum(money(i["NET_AMOUNT"]) + money(i["TAX_AMOUNT"]) for i in items)
        base += money(header["CARR_NET"]) + money(header["CARR_TAX"])
        assert money(header["INVOICE_GROSS"]) == base
        assert money(header["INVOICE_NET"]) + money(header["INVOICE_TAX"]) == base
        foreign = sum(money(i["FOREIGN_GROSS_AMOUNT"]) for i in items) + money(header["FOREIGN_CARR_GROSS"])
        assert foreign == money(header["FOREIGN_INVOICE_GROSS"])
        if code == "GBP":
            assert header["INVOICE_GROSS"] == header["FOREIGN_INVOICE_GROSS"] and rate == 1


def test_a_currency_the_company_lacks_fails_naming_it(tmp_path, company, europe) -> None:
    with sqlite3.connect(company) as db:
        db.execute("DELETE FROM CURRENCY WHERE CODE = 'SEK'")
    zynk, orders = mapped_orders(tmp_path / "in", versions=europe)
    result = _import(zynk, tmp_path / "run")
    swedish = {o["orderId"] for o in orders if o["salesChannel"]["marketplaceId"] == "A2NODRKZP88ZB9"
               and o["fulfillment"]["fulfillmentStatus"] in IMPORTED}
    failed = dict(result.failures)
    assert swedish and swedish <= set(failed)
    assert all("the order is in SEK, which is not in Sage's currency table" in failed[i] for i in swedish)
    in_sage = {r["CUST_ORDER_NUMBER"] for r in sage_rows(company, "SELECT CUST_ORDER_NUMBER FROM SALES_ORDER")}
    assert not swedish & in_sage and in_sage  # the others went in


def test_an_order_for_an_account_in_another_currency_fails(tmp_path, company, europe, monkeypatch) -> None:
    monkeypatch.delenv("AMAZON_SAGE_MARKETPLACE_ACCOUNTS")  # every order to AMAZON, a GBP account
    zynk, _ = mapped_orders(tmp_path / "in", versions=europe)
    result = _import(zynk, tmp_path / "run")
    reasons = etree.parse(str(result.fail_file)).getroot().xpath("//Error/Description/text()")
    assert any("account 'AMAZON' is in GBP but the order is in EUR" in r and "MARKETPLACE_ACCOUNTS" in r
               for r in reasons)
    currencies = {r["CURRENCY"] for r in sage_rows(company, "SELECT CURRENCY FROM SALES_ORDER")}
    assert currencies == {1}


def test_one_search_covers_every_marketplace_of_the_connection(monkeypatch, product_env) -> None:
    from sandbox.airflow_env import sp_api_connection

    orders = generate_orders(30, ORDERS_START, marketplaces=MARKETS)
    with SandboxServer(Sandbox(orders)) as server:
        monkeypatch.setenv("AIRFLOW_CONN_AMAZON_SP_API_DEFAULT",
                           sp_api_connection(server.url, "Atzr|europe", marketplace="UK,DE,FR"))
        hook = SellingPartnerHook()
        pages = list(hook.search_orders(last_updated_after="2026-11-01T00:00:00Z",
                                        last_updated_before="2026-11-30T00:00:00Z",
                                        fulfillment_statuses=["SHIPPED", "UNSHIPPED", "PARTIALLY_SHIPPED"]))
        calls = server.sandbox.state.calls["searchOrders"]
    found = {o["salesChannel"]["marketplaceName"] for page in pages for o in page["orders"]}
    assert found == {"Amazon.co.uk", "Amazon.de", "Amazon.fr"} and calls == len(pages)


def test_a_run_may_take_some_of_the_connections_marketplaces(monkeypatch, product_env, company,
                                                             airflow_db) -> None:
    from airflow.models.variable import Variable

    from amazon_sage.core.orders.last_window import VARIABLE
    from sandbox.airflow_env import sp_api_connection
    from tests.helpers import parse_dags, run_dag

    configured = parse_marketplaces("UK,DE,FR")
    assert chosen_marketplaces(configured, []) == configured
    assert [m.code for m in chosen_marketplaces(configured, ["fr", "DE", "A13V1IB3VIYZZH"])] == ["FR", "DE"]
    with pytest.raises(MarketplaceError, match=r"SE is not one of the connection's marketplaces \(UK, DE, FR\)"):
        chosen_marketplaces(configured, ["SE"])
    monkeypatch.setenv("AMAZON_SAGE_MARKETPLACE_ACCOUNTS", "EUR=AMAZONEU")
    monkeypatch.setenv("AMAZON_SAGE_MARKETPLACE_TAX", "DE=T20:19,FR=T21:20")
    monkeypatch.setenv("AMAZON_SAGE_TASK_RETRIES", "0")
    orders = generate_orders(60, ORDERS_START, marketplaces=("UK", "DE", "FR"))
    Variable.delete(VARIABLE)  # other tests' runs in this Airflow home may have moved it
    with SandboxServer(Sandbox(orders)) as server:
        monkeypatch.setenv("AIRFLOW_CONN_AMAZON_SP_API_DEFAULT",
                           sp_api_connection(server.url, "Atzr|some-markets", marketplace="UK,DE,FR"))
        run, states = run_dag(parse_dags()["amazon_orders_to_sage"], run_conf={
            "download_from": "2026-11-15T00:00:00Z", "download_to": "2026-11-30T00:00:00Z", "marketplaces": ["DE"],
            "order_statuses": None})  # as the form sends a cleared multi-select: the ORDER_STATUSES setting
    assert run.state == "success", states
    german = {o["orderId"] for o in latest_versions(orders) if o["salesChannel"]["marketplaceId"] == "A1PA6795UKMFR9"}
    in_sage = {r["CUST_ORDER_NUMBER"] for r in sage_rows(company, "SELECT CUST_ORDER_NUMBER FROM SALES_ORDER")}
    assert in_sage and in_sage <= german and len(german) < len(latest_versions(orders))  # Amazon sent Germany's only
    window = run.get_task_instance("download_orders").xcom_pull(task_ids="download_orders", key="window")
    assert window["marketplaces"] == ["DE"] and window["allMarketplaces"] is False
    assert Variable.get(VARIABLE, default_var=None) is None  # the UK's and France's orders of that window are still due


def test_marketplace_settings_are_checked_with_a_clear_error(monkeypatch) -> None:
    assert account_table("de=amazonde, EUR=AmazonEU") == {"A1PA6795UKMFR9": "AMAZONDE", "EUR": "AMAZONEU"}
    assert tax_table("DE=T20:19,IE=22:23.0") == {"A1PA6795UKMFR9": (20, "19"), "A28R8C7NBKEWEA": (22, "23")}
    with pytest.raises(MarketplaceError, match="'T20' for DE is not TAX_CODE:RATE"):
        tax_table("DE=T20")
    with pytest.raises(MarketplaceError, match="longer than Sage's 8 characters"):
        account_table("DE=AMAZONGERMANY")
    with pytest.raises(MarketplaceError, match="unknown marketplace 'XY'"):
        parse_marketplaces("UK,XY")
    monkeypatch.setenv("AMAZON_SAGE_MARKETPLACE_TAX", "DE=T200:19")
    with pytest.raises(ValueError, match=r"AMAZON_SAGE_MARKETPLACE_TAX: .*T0-T99"):
        settings.orders_mapping_parameters()


def test_the_audit_trail_route_posts_each_currency_to_its_account(tmp_path, company, europe) -> None:
    from datetime import timedelta

    from amazon_sage.core.sage.audit_trail.export import ExportSettings, export_audit_trail
    from sandbox.sage_audit_import import import_audit_trail

    zynk, orders = mapped_orders(tmp_path / "in", versions=europe)
    (tmp_path / "run").mkdir()
    result = export_audit_trail(zynk, tmp_path / "run", Sage50Hook().connect, ExportSettings(
        drop_folder=tmp_path / "drop", ledger_path=tmp_path / "ledger.sqlite", import_statuses=IMPORTED,
        department=0, user_name="Amazon", header_row=True, overdue_after=timedelta(hours=48)), run_id="eu")
    assert result.failed == 0
    import_audit_trail(company, result.import_file)
    rates = _rates(company)
    headers = {h["INV_REF"]: h for h in sage_rows(company, "SELECT * FROM AUDIT_HEADER")}
    expected = [o for o in orders if o["fulfillment"]["fulfillmentStatus"] in IMPORTED]
    assert set(headers) == {o["orderId"] for o in expected}
    for order in expected:
        header, code = headers[order["orderId"]], order["proceeds"]["grandTotal"]["currencyCode"]
        assert header["ACCOUNT_REF"] == ACCOUNTS[code] and Decimal(str(header["FOREIGN_RATE"])) == rates[code]
        paid = Decimal(order["proceeds"]["grandTotal"]["amount"])
        assert money(header["FOREIGN_NET_AMOUNT"]) + money(header["FOREIGN_TAX_AMOUNT"]) == paid
        splits = sage_rows(company, "SELECT * FROM AUDIT_SPLIT WHERE HEADER_NUMBER = ?", header["HEADER_NUMBER"])
        assert {s["TAX_CODE"] for s in splits} <= {VAT[order["salesChannel"]["marketplaceId"]][0]}
        assert money(header["NET_AMOUNT"]) == sum(_pennies(money(s["FOREIGN_NET_AMOUNT"]) / rates[code])
                                                  for s in splits)


def test_fba_orders_come_once_shipped_and_the_channel_filter_is_amazons(tmp_path, monkeypatch, product_env) -> None:
    from amazon_sage.core.orders.amazon_orders_xml import write_orders_xml
    from sandbox.airflow_env import sp_api_connection

    orders = generate_orders(60, ORDERS_START, fba_every=3)
    fba = [o for o in latest_versions(orders) if o["fulfillment"]["fulfilledBy"] == "AMAZON"]
    assert {o["fulfillment"]["fulfillmentStatus"] for o in fba} >= {"SHIPPED", "UNSHIPPED"}
    window = {"last_updated_after": "2026-11-01T00:00:00Z", "last_updated_before": "2026-11-30T00:00:00Z",
              "fulfillment_statuses": ["SHIPPED", "UNSHIPPED", "PARTIALLY_SHIPPED", "CANCELLED"]}
    with SandboxServer(Sandbox(orders)) as server:
        monkeypatch.setenv("AIRFLOW_CONN_AMAZON_SP_API_DEFAULT", sp_api_connection(server.url, "Atzr|fba"))
        hook = SellingPartnerHook()
        monkeypatch.setenv("AMAZON_SAGE_ORDERS_FULFILLED_BY", "AFN")
        only_fba = [o for p in hook.search_orders(**window, fulfilled_by=settings.orders_fulfilled_by())
                    for o in p["orders"]]
        everything = list(hook.search_orders(**window))
    assert {o["orderId"] for o in only_fba} == {o["orderId"] for o in fba}
    counts = write_orders_xml(everything, tmp_path / "amazon_orders.xml", window={}, fba_only_when_shipped=True)
    waiting = [o for o in fba if o["fulfillment"]["fulfillmentStatus"] not in {"SHIPPED", "CANCELLED"}]
    assert counts.fba_not_shipped == len(waiting) > 0
    written = etree.parse(str(tmp_path / "amazon_orders.xml")).getroot().xpath("//Order/orderId/text()")
    assert not {o["orderId"] for o in waiting} & set(written)
    assert {o["orderId"] for o in fba if o not in waiting} <= set(written)
    monkeypatch.setenv("AMAZON_SAGE_ORDERS_FULFILLED_BY", "some")
    with pytest.raises(ValueError, match="use All, AFN"):
        settings.orders_fulfilled_by()


def test_fba_sales_can_go_to_their_own_nominal_code(tmp_path, monkeypatch, product_env) -> None:
    monkeypatch.setenv("AMAZON_SAGE_FBA_NOMINAL_CODE", "4010")
    zynk, orders = mapped_orders(tmp_path / "in", versions=latest_versions(generate_orders(40, ORDERS_START,
                                                                                           fba_every=4)))
    by_id = {o["orderId"]: o["fulfillment"]["fulfilledBy"] for o in orders}
    records = etree.parse(str(zynk)).getroot().xpath("//SalesOrder")
    for record in records:
        nominals = set(record.xpath("SalesOrderItems/Item/NominalCode/text()"))
        assert nominals == ({"4010"} if by_id[record.findtext("Id")] == "AMAZON" else {"4000"})
    assert "AMAZON" in by_id.values()


def test_lines_whose_vat_amazon_collected_carry_no_output_vat(tmp_path, company, product_env, monkeypatch) -> None:
    from sandbox.airflow_env import sp_api_connection

    with SandboxServer(Sandbox(generate_orders(40, ORDERS_START, facilitator_every=3))) as server:
        monkeypatch.setenv("AIRFLOW_CONN_AMAZON_SP_API_DEFAULT", sp_api_connection(server.url, "Atzr|mf"))
        pages = SellingPartnerHook().search_orders(
            last_updated_after="2026-11-01T00:00:00Z", last_updated_before="2026-11-30T00:00:00Z",
            fulfillment_statuses=["SHIPPED", "UNSHIPPED", "PARTIALLY_SHIPPED", "CANCELLED", "PENDING"])
        orders = latest_versions([o for page in pages for o in page["orders"]])  # as downloaded: tax included
    facilitated = {o["orderId"]: o for o in orders if any("tax" in i for i in o["orderItems"])
                   and o["fulfillment"]["fulfillmentStatus"] in IMPORTED}
    assert facilitated
    zynk, _ = mapped_orders(tmp_path / "in", versions=orders)
    result = _import(zynk, tmp_path / "run")
    assert not set(dict(result.failures)) & set(facilitated)
    headers = {h["CUST_ORDER_NUMBER"]: h for h in sage_rows(company, "SELECT * FROM SALES_ORDER")}
    for order_id, order in facilitated.items():
        header = headers[order_id]
        items = sage_rows(company, "SELECT * FROM SOP_ITEM WHERE ORDER_NUMBER = ? ORDER BY ITEM_NUMBER",
                          header["ORDER_NUMBER"])
        for item, amazon in zip(items, order["orderItems"], strict=True):
            seller_part = Decimal(amazon["proceeds"]["breakdowns"][0]["subtotal"]["amount"])  # ITEM, before tax
            assert (item["TAX_CODE"], item["TAX_RATE"], money(item["TAX_AMOUNT"])) == ("T9", 0, 0)
            assert money(item["NET_AMOUNT"]) == seller_part
            assert seller_part < Decimal(amazon["product"]["price"]["unitPrice"]["amount"]) * amazon["quantityOrdered"]
        assert money(header["INVOICE_TAX"]) == 0
        assert header["CARR_TAX_CODE"] == "T9" or money(header["CARR_NET"]) == 0
        assert money(header["INVOICE_GROSS"]) == Decimal(order["proceeds"]["grandTotal"]["amount"])
    others = [h for i, h in headers.items() if i not in facilitated]
    assert others and all(money(h["INVOICE_TAX"]) > 0 for h in others)


def test_the_sellers_participations_check_the_connections_marketplaces(monkeypatch, product_env, capsys) -> None:
    import json

    import jsonschema

    from amazon_sage.cli import marketplaces as cli
    from sandbox.airflow_env import sp_api_connection
    from sandbox.sp_api_sellers import participations

    model = json.loads((Path(__file__).resolve().parents[1] / "include/amazon/sellers.json").read_text())
    jsonschema.validate(participations({"GB"}), {**model["definitions"]["GetMarketplaceParticipationsResponse"],
                                                 "definitions": model["definitions"]})
    with SandboxServer(Sandbox([])) as server:
        server.sandbox.participating = {"GB", "DE"}
        monkeypatch.setenv("AIRFLOW_CONN_AMAZON_SP_API_DEFAULT",
                           sp_api_connection(server.url, "Atzr|sellers", marketplace="UK,DE"))
        assert cli.main([]) == 0
        shown = capsys.readouterr().out
        assert "* UK  A1F83G8C2ARO7P  GBP  participating" in shown and "OK: UK, DE" in shown
        assert "  FR  A13V1IB3VIYZZH  EUR  not participating" in shown
        monkeypatch.setenv("AIRFLOW_CONN_AMAZON_SP_API_DEFAULT",
                           sp_api_connection(server.url, "Atzr|sellers2", marketplace="UK,FR"))
        assert cli.main([]) == 1
        assert "PROBLEM: FR: the seller does not sell there" in capsys.readouterr().out


def test_prices_reach_each_marketplace_in_its_currency_to_the_minor_unit(feed_dags, company) -> None:
    from tests.helpers import archived_zip

    feed_dags.setenv("AMAZON_SAGE_MARKETPLACE_TAX", "DE=T20:19,FR=T21:20,SE=T22:25")
    with sqlite3.connect(company) as db:
        db.execute("DELETE FROM CURRENCY WHERE CODE = 'SEK'")  # no rate for Sweden: its prices cannot be made
    rates = _rates(company)
    run, sent = _run_prices(feed_dags, "Atzr|prices", "UK,DE,FR,SE")
    listings, feeds = sent.listings, list(sent.feeds.values())
    assert run.state == "success"
    assert [sorted(f.marketplace_ids) for f in feeds] == [sorted(  # one feed for the whole region
        ["A1F83G8C2ARO7P", "A1PA6795UKMFR9", "A13V1IB3VIYZZH", "A2NODRKZP88ZB9"])]
    markets = {"A1F83G8C2ARO7P": ("GBP", Decimal(20)), "A1PA6795UKMFR9": ("EUR", Decimal(19)),
               "A13V1IB3VIYZZH": ("EUR", Decimal(20))}
    checked = 0
    for row in sage_rows(company, "SELECT STOCK_CODE, SALES_PRICE FROM STOCK"):
        sku = row["STOCK_CODE"]
        if sku not in listings or not row["SALES_PRICE"]:
            continue
        net = Decimal(str(row["SALES_PRICE"]))
        for marketplace_id, (currency, vat) in markets.items():
            expected = _pennies(net * (1 + vat / 100) * rates[currency])
            assert listings[sku].prices[marketplace_id] == (currency, expected), (sku, marketplace_id)
        assert "A2NODRKZP88ZB9" not in listings[sku].prices  # never sent without a rate, never as zero
        checked += 1
    assert checked > 5 and listings["TOWEL-LINEN-2"].prices["A1F83G8C2ARO7P"] == ("GBP", Decimal("12.99"))
    uri = run.get_task_instance("archive_workflow_data").xcom_pull(task_ids="archive_workflow_data")
    with archived_zip(Path(uri)) as opened:
        failed = [p.findtext("Errors/Error/Description") or ""
                  for p in etree.fromstring(opened.read("amazon_prices_fail.xml")).iter("Product")]
    priced = [r for r in sage_rows(company, "SELECT SALES_PRICE FROM STOCK") if r["SALES_PRICE"]]
    assert sum("No exchange rate for SEK in Sage's currency table" in reason for reason in failed) == len(priced)


def test_a_marketplace_may_take_its_prices_from_a_sage_price_list(feed_dags, company) -> None:
    from tests.helpers import archived_zip

    feed_dags.setenv("AMAZON_SAGE_MARKETPLACE_TAX", "DE=T20:19,FR=T21:20")
    feed_dags.setenv("AMAZON_SAGE_MARKETPLACE_PRICE_LISTS", "DE=AMZDE,FR=amzfr")
    lists = {(r["PRICING_REF"], r["STOCK_CODE"]): Decimal(repr(r["STORED_PRICE"])) for r in sage_rows(
        company, "SELECT PRICING_REF, STOCK_CODE, STORED_PRICE FROM PRICE WHERE TYPE = 'P'")}
    rates = _rates(company)
    run, sent = _run_prices(feed_dags, "Atzr|price-lists", "UK,DE,FR")
    listings = sent.listings
    assert run.state == "success"
    germany, france, uk = "A1PA6795UKMFR9", "A13V1IB3VIYZZH", "A1F83G8C2ARO7P"
    # Germany's static list, in EUR like Amazon.de: its net price plus German VAT, no conversion, one rounding.
    assert listings["MUG-RED-01"].prices[germany] == ("EUR", _pennies(lists["AMZDE", "MUG-RED-01"] * Decimal("1.19")))
    assert listings["TEAPOT-CAST-1L"].prices[germany] == ("EUR", Decimal("40.00"))  # 33.6134 x 1.19 = 39.99995
    checked = 0
    for row in sage_rows(company, "SELECT STOCK_CODE, SALES_PRICE FROM STOCK WHERE SALES_PRICE > 0"):
        sku, net = row["STOCK_CODE"], Decimal(str(row["SALES_PRICE"]))
        if sku not in listings:
            continue
        assert listings[sku].prices[uk] == ("GBP", _pennies(net * Decimal("1.2")))  # no list for the UK
        if ("AMZDE", sku) not in lists:  # not on Germany's list: the product's own price, as Sage prices it
            assert listings[sku].prices[germany] == ("EUR", _pennies(net * Decimal("1.19") * rates["EUR"]))
            checked += 1
        if ("AMZFR", sku) not in lists:
            assert listings[sku].prices[france] == ("EUR", _pennies(net * Decimal("1.20") * rates["EUR"]))
    assert checked > 3
    assert germany not in listings["KETTLE-GOOSENECK-08"].prices  # its list price is 0: never sent
    assert france not in listings["MUG-RED-01"].prices  # France's list is recalculated by Sage: never guessed
    uri = run.get_task_instance("archive_workflow_data").xcom_pull(task_ids="archive_workflow_data")
    with archived_zip(Path(uri)) as opened:
        failed = {p.findtext("Sku"): " ".join(p.xpath("Errors/Error/Description/text()"))
                  for p in etree.fromstring(opened.read("amazon_prices_fail.xml")).iter("Product")}
    assert "Price 0.0 in price list AMZDE is not above zero" in failed["KETTLE-GOOSENECK-08"]
    assert "Sage recalculates the prices of price list AMZFR" in failed["MUG-RED-01"]


def test_a_price_list_in_another_currency_converts_at_sages_rates_and_a_missing_list_is_named(company) -> None:
    import pyodbc

    from amazon_sage.core.feeds.marketplace_prices import PriceMarket, marketplace_price
    from amazon_sage.core.sage.price_lists import PriceListError, read_price_lists
    from sandbox.sample_company import odbc_connection_string

    connection = pyodbc.connect(odbc_connection_string(company))
    try:
        lists = read_price_lists(connection, ["amzde"])
        with pytest.raises(PriceListError, match="Sage has no price list NOPE"):
            read_price_lists(connection, ["AMZDE", "NOPE"])
    finally:
        connection.close()
    assert lists["AMZDE"].currency == "EUR" and lists["AMZDE"].static
    sweden = PriceMarket("A2NODRKZP88ZB9", "SEK", Decimal(25), Decimal("13.25"), price_list=lists["AMZDE"],
                         list_rate=Decimal("1.17"))
    price, error = marketplace_price("9.99", sweden, base_vat_rate=Decimal(20), includes_tax=False, sku="MUG-RED-01")
    assert error is None and price == _pennies(Decimal("11.5") * Decimal("1.25") * Decimal("13.25") / Decimal("1.17"))
    own, _ = marketplace_price("9.99", sweden, base_vat_rate=Decimal(20), includes_tax=False, sku="TOWEL-LINEN-2")
    assert own == _pennies(Decimal("9.99") * Decimal("1.25") * Decimal("13.25"))  # not on the list
    no_rate = PriceMarket("A2NODRKZP88ZB9", "SEK", Decimal(25), Decimal("13.25"), price_list=lists["AMZDE"])
    assert "No exchange rate between EUR (price list AMZDE) and SEK" in marketplace_price(
        "9.99", no_rate, base_vat_rate=Decimal(20), includes_tax=False, sku="MUG-RED-01")[1]


def test_fba_skus_get_no_seller_fulfilled_quantity(feed_dags, company, sandbox_server) -> None:
    from tests.helpers import archived_zip, parse_dags

    feed_dags.setenv("AMAZON_SAGE_FBA_SKUS", "MUG-RED-01, TOWEL-LINEN-2")
    with sqlite3.connect(company) as db:  # Sage's stock changes for every product, FBA ones too
        db.execute("UPDATE STOCK SET QTY_IN_STOCK = 7, QTY_ALLOCATED = 0")
    listings = sandbox_server.sandbox.feeds_state.listings
    before = {sku: listing.quantity for sku, listing in listings.items()}
    run = parse_dags()["sage_stock_to_amazon_inventory"].test(run_conf={"export_mode": "All"})
    assert run.state == "success"
    assert listings["MUG-RED-01"].quantity == before["MUG-RED-01"] != 7
    assert listings["TOWEL-LINEN-2"].quantity == before["TOWEL-LINEN-2"] != 7
    assert listings["TEAPOT-CAST-1L"].quantity == 7
    counts = run.get_task_instance("upload_inventory_feed").xcom_pull(task_ids="upload_inventory_feed", key="counts")
    assert counts["skipped"] == 2
    uri = run.get_task_instance("archive_workflow_data").xcom_pull(task_ids="archive_workflow_data")
    with archived_zip(Path(uri)) as opened:
        skipped = {p.findtext("Sku"): p.findtext("Warnings/Warning/Description")
                   for p in etree.fromstring(opened.read("amazon_inventory_skipped.xml")).iter("Product")}
    assert set(skipped) == {"MUG-RED-01", "TOWEL-LINEN-2"}
    assert all("switch it to seller-fulfilled" in reason for reason in skipped.values())
