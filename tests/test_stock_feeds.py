"""Phases 2 and 3: STOCK export, the feed mappings, feed documents and the processing report."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import jsonschema
import pyodbc
import pytest
from lxml import etree

from amazon_sage import settings
from amazon_sage.core.feeds.feed_documents import MAX_MESSAGES, FeedValidationError, build_feed_documents
from amazon_sage.core.feeds.processing_report import apply_report
from amazon_sage.core.mapping.xslt import apply_mapping
from amazon_sage.core.sage.stock_export import export_stock, stock_query
from sandbox.sample_company import odbc_connection_string

PROJECT = Path(__file__).resolve().parents[1]
FEED_SCHEMAS = PROJECT / "plugins" / "amazon_sage" / "core" / "feeds" / "amazon_schemas"
WINDOW = {"start": datetime(2026, 11, 26, 9, tzinfo=timezone.utc),
          "end": datetime(2026, 11, 26, 10, tzinfo=timezone.utc)}


def _sql(company: Path, sql: str, *params) -> None:
    connection = pyodbc.connect(odbc_connection_string(company), autocommit=True)
    try:
        connection.execute(sql, *params)
    finally:
        connection.close()


def _export(company: Path, folder: Path, mode: str = "All", **kwargs) -> tuple[Path, int]:
    connection = pyodbc.connect(odbc_connection_string(company))
    try:
        output = folder / "zynk_stock_records.xml"
        return output, export_stock(connection, stock_query(mode, **WINDOW, **kwargs), output)
    finally:
        connection.close()


def _feed(company: Path, folder: Path, kind: str, **export) -> tuple[list[dict], list, Path]:
    records, _ = _export(company, folder, **export)
    parameters = settings.inventory_mapping_parameters() if kind == "inventory" else \
        {**settings.prices_mapping_parameters(), "MarketplaceID": "A1F83G8C2ARO7P"}
    mapped = apply_mapping(records, settings.mapping_path(f"{kind.upper()}_MAPPING"), folder / f"amazon_{kind}.xml",
                           parameters)
    build = build_feed_documents(mapped, seller_id="A1EXAMPLESELLER", out_dir=folder, stem=f"amazon_{kind}_feed")
    return [json.loads(p.read_text()) for p in build.documents], build.rejected, records


def test_export_modes_windows_and_filters(tmp_path: Path, company: Path) -> None:
    inside = datetime(2026, 11, 26, 9, 30)
    _sql(company, "UPDATE STOCK SET RECORD_MODIFY_DATE = ? WHERE STOCK_CODE IN ('MUG-RED-01', 'CADDY-TIN-S')", inside)
    _sql(company, "UPDATE STOCK SET RECORD_CREATE_DATE = ? WHERE STOCK_CODE = 'CADDY-TIN-S'", inside)
    _sql(company, "UPDATE STOCK SET RECORD_DELETED = 1 WHERE STOCK_CODE = 'MUG-RED-01'")
    _sql(company, "UPDATE STOCK SET WEB_PUBLISH = 0 WHERE STOCK_CODE = 'COASTER-SLATE-4'")
    skus = {}
    for mode in ("Modified", "New", "All"):
        path, count = _export(company, tmp_path, mode)
        skus[mode] = etree.parse(str(path)).getroot().xpath("//Product/Sku/text()")
        assert count == len(skus[mode])
    assert skus["Modified"] == ["CADDY-TIN-S"] and skus["New"] == ["CADDY-TIN-S"]  # deleted MUG-RED-01 never
    assert "MUG-RED-01" not in skus["All"] and "COASTER-SLATE-4" in skus["All"]
    path, _ = _export(company, tmp_path, "All", published_only=True, where="STOCK_CODE LIKE 'T%'")
    assert etree.parse(str(path)).getroot().xpath("//Product/Sku/text()") == [
        "TEA-EARLGREY-250", "TEAPOT-CAST-1L", "TOWEL-LINEN-2", "TRAY-OAK-LARGE"]


def test_zero_records_is_an_empty_document(tmp_path: Path, company: Path) -> None:
    path, count = _export(company, tmp_path, "Modified")
    assert count == 0 and etree.parse(str(path)).getroot().find("Products") is not None


def test_awkward_stock_rows_make_a_valid_inventory_feed(tmp_path: Path, company: Path) -> None:
    _sql(company, "UPDATE STOCK SET QTY_IN_STOCK = NULL, QTY_ALLOCATED = NULL WHERE STOCK_CODE = 'MUG-RED-01'")
    _sql(company, "UPDATE STOCK SET QTY_IN_STOCK = -5 WHERE STOCK_CODE = 'CADDY-TIN-S'")
    _sql(company, "UPDATE STOCK SET QTY_IN_STOCK = 7.9, QTY_ALLOCATED = 2 WHERE STOCK_CODE = 'INFUSER-STEEL'")
    _sql(company, "UPDATE STOCK SET QTY_IN_STOCK = 1e12, QTY_ALLOCATED = 0 WHERE STOCK_CODE = 'KETTLE-GOOSENECK-08'")
    _sql(company, "INSERT INTO STOCK (STOCK_CODE, DESCRIPTION, SALES_PRICE, QTY_IN_STOCK, QTY_ALLOCATED, TAX_CODE, "
                  "WEB_PUBLISH, RECORD_DELETED) VALUES ('TASSE-CAFÉ-ÜBER-€', 'Café cup', 5, 3, 0, 'T1', 1, 0)")
    documents, rejected, _ = _feed(company, tmp_path, "inventory")
    schema = jsonschema.Draft7Validator(json.loads((FEED_SCHEMAS / "listings-feed-schema-v2.json").read_text()))
    assert len(documents) == 1 and not list(schema.iter_errors(documents[0])) and rejected == []
    quantities = {m["sku"]: m["patches"][0]["value"][0]["quantity"] for m in documents[0]["messages"]}
    assert quantities["MUG-RED-01"] == 0 and quantities["CADDY-TIN-S"] == 0
    assert quantities["INFUSER-STEEL"] == 5 and quantities["KETTLE-GOOSENECK-08"] == 10**12
    assert quantities["TASSE-CAFÉ-ÜBER-€"] == 3
    ids = [m["messageId"] for m in documents[0]["messages"]]
    assert len(set(ids)) == len(ids) and documents[0]["header"] == {"sellerId": "A1EXAMPLESELLER", "version": "2.0",
                                                                    "issueLocale": "en_GB"}
    raw = (tmp_path / "amazon_inventory_feed_001.json").read_bytes()
    assert "TASSE-CAFÉ-ÜBER-€".encode() in raw  # UTF-8, not ISO-8859-1 or escapes


def test_prices_add_vat_to_the_penny_and_reject_free_products(tmp_path: Path, company: Path) -> None:
    _sql(company, "UPDATE STOCK SET SALES_PRICE = 0 WHERE STOCK_CODE = 'CADDY-TIN-S'")
    _sql(company, "UPDATE STOCK SET SALES_PRICE = -1 WHERE STOCK_CODE = 'MUG-BLU-01'")
    _sql(company, "UPDATE STOCK SET SALES_PRICE = 6.24 WHERE STOCK_CODE = 'TEA-EARLGREY-250'")
    documents, rejected, _ = _feed(company, tmp_path, "prices")
    offers = {m["sku"]: m["patches"][0]["value"][0] for m in documents[0]["messages"]}
    assert offers["TEA-EARLGREY-250"]["our_price"][0]["schedule"][0]["value_with_tax"] == 7.49  # 6.24 + 20 %
    assert offers["MUG-RED-01"] == {"marketplace_id": "A1F83G8C2ARO7P", "currency": "GBP", "audience": "ALL",
                                    "our_price": [{"schedule": [{"value_with_tax": 12.0}]}]}
    assert sorted(sku for sku, _ in rejected) == ["CADDY-TIN-S", "MUG-BLU-01"]
    assert "CADDY-TIN-S" not in offers and all("not above zero" in reason for _, reason in rejected)


def test_a_mapping_that_breaks_the_schema_is_stopped_before_upload(tmp_path: Path, company: Path) -> None:
    records, _ = _export(company, tmp_path)
    broken = tmp_path / "broken.xslt"
    broken.write_text(settings.mapping_path("INVENTORY_MAPPING").read_text().replace(
        "<operationType>PATCH</operationType>", "<operationType>PATCHY</operationType>"))
    mapped = apply_mapping(records, broken, tmp_path / "amazon_inventory.xml", {})
    with pytest.raises(FeedValidationError, match=r"/messages/0/operationType \(messageId 1.*'PATCHY'"):
        build_feed_documents(mapped, seller_id="S", out_dir=tmp_path, stem="amazon_inventory_feed")
    assert not list(tmp_path.glob("amazon_inventory_feed_*.json"))
    patchless = tmp_path / "patchless.xslt"
    patchless.write_text(re.sub(r"<patches .*</patches>", "", broken.read_text().replace("PATCHY", "PATCH"),
                                flags=re.S))
    mapped = apply_mapping(records, patchless, tmp_path / "amazon_inventory.xml", {})
    with pytest.raises(FeedValidationError, match=r"at /messages/0 \(messageId 1.*'patches' is a required property"):
        build_feed_documents(mapped, seller_id="S", out_dir=tmp_path, stem="amazon_inventory_feed")


def _message(operation: object, **fields: object) -> dict:
    return {"messageId": 1, "sku": "MUG-RED-01", "operationType": operation, **fields}


PATCHES = [{"op": "replace", "path": "/attributes/fulfillment_availability",
            "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": Decimal("3")}]}]
ATTRIBUTES = {"item_name": [{"value": "Red mug"}]}
MESSAGES = [
    _message("PATCH", productType="PRODUCT", patches=PATCHES),
    _message("UPDATE", productType="PRODUCT", attributes=ATTRIBUTES),
    _message("PARTIAL_UPDATE", productType="PRODUCT", attributes=ATTRIBUTES),
    _message("DELETE"),
    _message("DELETE", attributes=ATTRIBUTES),
    _message("PATCH", productType="PRODUCT"),
    _message("PATCH", productType="PRODUCT", patches=PATCHES, attributes=ATTRIBUTES),
    _message("UPDATE", productType="PRODUCT", attributes=ATTRIBUTES, patches=PATCHES),
    _message("PARTIAL_UPDATE", productType="PRODUCT", attributes=ATTRIBUTES, requirements="LISTING"),
    _message("PATCHY", productType="PRODUCT", patches=PATCHES),
    _message(["PATCH"], productType="PRODUCT", patches=PATCHES),
    {"messageId": 1, "sku": "MUG-RED-01", "productType": "PRODUCT", "patches": PATCHES},
    _message("PATCH", productType="PRODUCT", patches=[{"op": "nudge", "path": "/x"}]),
    {**_message("DELETE"), "messageId": 0},
    {**_message("DELETE"), "sku": ""},
    "not a message",
]


@pytest.mark.parametrize("message", MESSAGES, ids=range(len(MESSAGES)))
def test_the_quick_schema_check_agrees_with_the_whole_schema(message) -> None:
    from amazon_sage.core.feeds.feed_documents import SCHEMA, _passes_fast_checks

    schema = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))
    header = {"sellerId": "S", "version": "2.0", "issueLocale": "en_GB"}
    documents = [{"header": header, "messages": [message]},
                 {"header": header, "messages": [MESSAGES[0], message, MESSAGES[3]]},
                 {"header": {**header, "version": "1.0"}, "messages": [message]}]
    for document in documents:
        assert _passes_fast_checks(document) == schema.is_valid(document)
    empty = {"header": header, "messages": []}
    assert _passes_fast_checks(empty) is schema.is_valid(empty) is False


def test_feeds_split_at_the_message_limit(tmp_path: Path, company: Path) -> None:
    records, count = _export(company, tmp_path)
    mapped = apply_mapping(records, settings.mapping_path("INVENTORY_MAPPING"), tmp_path / "inv.xml", {})
    build = build_feed_documents(mapped, seller_id="S", out_dir=tmp_path, stem="feed", max_messages=5)
    sizes = [len(json.loads(p.read_text())["messages"]) for p in build.documents]
    assert sizes == [5, 5, count - 10] and MAX_MESSAGES == 25_000
    ids = [m["messageId"] for p in build.documents for m in json.loads(p.read_text())["messages"]]
    assert ids == list(range(1, count + 1))


def test_report_issues_land_on_their_skus() -> None:
    document = {"messages": [{"messageId": 1, "sku": "A"}, {"messageId": 2, "sku": "B"}, {"messageId": 3, "sku": "C"}]}
    report = {"issues": [{"messageId": 2, "sku": "B", "code": "1", "severity": "ERROR", "message": "bad"},
                         {"messageId": 3, "sku": "C", "code": "2", "severity": "WARNING", "message": "meh"},
                         {"messageId": 99, "sku": "Z", "code": "3", "severity": "ERROR", "message": "who?"}],
              "summary": {}}
    outcome = apply_report("F1", document, report)
    assert [r.sku for r in outcome.failed] == ["B"] and outcome.failed[0].errors == ["1: bad"]
    assert [(r.sku, r.warnings) for r in outcome.succeeded] == [("A", []), ("C", ["2: meh"])]
    assert len(outcome.unknown_issues) == 1 and "messageId 99" in outcome.unknown_issues[0]
    whole = apply_report("F2", document, {"issues": [{"code": "9", "severity": "ERROR", "message": "bad feed"}]})
    assert len(whole.failed) == 3


def test_money_in_feeds_is_decimal_exact() -> None:
    from amazon_sage.core.feeds.xml_json import to_json

    element = etree.fromstring('<v xmlns:json="urn:amazon-sage:json"><p json:type="number">0.10</p>'
                               '<q json:type="integer">3</q><a json:array="true"><x>1</x></a></v>')
    assert to_json(element) == {"p": Decimal("0.10"), "q": 3, "a": [{"x": "1"}]}
