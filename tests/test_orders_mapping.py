"""The Auto Mapper and the orders mapping: money to the penny, and hostile files stay harmless."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from amazon_sage import settings
from amazon_sage.core.mapping.chunked_mapping import apply_mapping_in_chunks
from amazon_sage.core.mapping.xslt import MappingError, apply_mapping
from amazon_sage.core.orders.amazon_orders_xml import write_orders_xml
from amazon_sage.core.sage.order_reader import iter_sales_order_elements, parse_sales_order
from amazon_sage.core.xml_files import XmlFileError
from sandbox.order_generator import generate_orders
from tests.helpers import ORDERS_START, latest_versions

MAPPING = settings.mapping_path("ORDERS_MAPPING")


def _map(tmp_path: Path, versions: list[dict], **parameters: str) -> Path:
    source = tmp_path / "amazon_orders.xml"
    write_orders_xml([{"orders": versions}], source, window={})
    return apply_mapping(source, MAPPING, tmp_path / "zynk_orders.xml",
                         {**settings.orders_mapping_parameters(), **parameters})


def _charged(order: dict) -> Decimal:
    """What the buyer paid, from Amazon's item proceeds: items + shipping - promotions."""
    return sum((Decimal(b["subtotal"]["amount"]) for item in order["orderItems"]
                for b in item["proceeds"]["breakdowns"]), Decimal(0))


def test_net_plus_vat_equals_what_the_buyer_paid_to_the_penny(tmp_path: Path) -> None:
    versions = [v for v in generate_orders(1500, ORDERS_START, days=10, seed=5) if "proceeds" in v]
    by_id = {v["orderId"]: v for v in versions}
    mapped = {}
    for element in iter_sales_order_elements(_map(tmp_path, versions)):
        order = parse_sales_order(element)
        parts = [*order.lines, *([order.carriage] if order.carriage else [])]
        mapped[order.id] = (sum((p.total_net + p.total_tax for p in parts), Decimal(0)), order)
    assert len(mapped) == len({v["orderId"] for v in versions})
    for order_id, (gross, order) in mapped.items():
        assert gross == _charged(by_id[order_id]) == order.payment_amount, order_id
        for line in order.lines:
            # The VAT is the penny-exact split at 20% of the line's gross.
            line_gross = line.total_net + line.total_tax
            assert line.total_net == (line_gross / Decimal("1.2")).quantize(Decimal("0.01"), "ROUND_HALF_UP")


def test_unit_prices_are_per_unit_and_promotions_become_discounts(tmp_path: Path) -> None:
    # Order 6 (index 7: order 4 has two versions): teapot 34.99 less 5.00, 3 infusers at 4.49, free shipping.
    promoted = generate_orders(8, ORDERS_START)[7]
    order = parse_sales_order(next(iter_sales_order_elements(_map(tmp_path, [promoted]))))
    teapot, infusers = order.lines
    assert teapot.unit_price == Decimal("29.16")
    assert (teapot.total_net, teapot.total_tax) == (Decimal("24.99"), Decimal("5.00"))
    assert teapot.quantity * teapot.unit_discount == pytest.approx(Decimal("4.17"), abs=Decimal("0.000001"))
    assert (infusers.quantity, infusers.unit_price, infusers.total_net) == (3, Decimal("3.74"), Decimal("11.23"))
    assert order.carriage is None  # 3.99 shipping, 3.99 shipping promotion


def test_net_prices_get_vat_added_when_not_vat_inclusive(tmp_path: Path) -> None:
    order_json = generate_orders(8, ORDERS_START)[0]
    order = parse_sales_order(next(iter_sales_order_elements(_map(tmp_path, [order_json], VATInclusiveItem="false"))))
    line = order.lines[0]
    assert line.total_net == line.unit_price * line.quantity
    assert line.total_tax == (line.total_net * Decimal("0.2")).quantize(Decimal("0.01"), "ROUND_HALF_UP")


def test_pending_orders_map_without_money(tmp_path: Path) -> None:
    pending = generate_orders(8, ORDERS_START)[2]
    order = parse_sales_order(next(iter_sales_order_elements(_map(tmp_path, [pending]))))
    assert order.status == "PENDING"
    assert all(line.unit_price is None and line.total_net is None for line in order.lines)


def test_malformed_input_names_file_and_line(tmp_path: Path) -> None:
    source = tmp_path / "amazon_orders.xml"
    source.write_text("<Orders>\n<Order>\n<orderId>1</orderId>\n</Orders>\n")
    with pytest.raises(XmlFileError, match=r"amazon_orders.xml:4.*not well-formed"):
        apply_mapping(source, MAPPING, tmp_path / "out.xml")


def test_broken_mapping_names_file_and_line(tmp_path: Path) -> None:
    mapping = tmp_path / "broken.xslt"
    mapping.write_text('<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">\n'
                       '<xsl:template match="/">\n<xsl:value-of select="count(("/>\n</xsl:template>\n'
                       '</xsl:stylesheet>\n')
    source = tmp_path / "in.xml"
    source.write_text("<Orders/>")
    with pytest.raises(MappingError, match=r"broken.xslt:3"):
        apply_mapping(source, mapping, tmp_path / "out.xml")


XXE = ('<?xml version="1.0"?>\n<!DOCTYPE Orders [<!ENTITY secret SYSTEM "file://{path}">]>\n'
       '<Orders><Order><orderId>&secret;</orderId><orderItems/></Order></Orders>')


def test_xxe_in_input_is_not_expanded(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    source = tmp_path / "amazon_orders.xml"
    source.write_text(XXE.format(path=secret))
    output = apply_mapping(source, MAPPING, tmp_path / "out.xml")
    assert "TOP-SECRET" not in output.read_text()


def test_mapping_cannot_read_or_write_files(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    source = tmp_path / "in.xml"
    source.write_text("<Orders/>")
    reader = tmp_path / "reader.xslt"
    reader.write_text(f'<!DOCTYPE x [<!ENTITY s SYSTEM "file://{secret}">]>'
                      '<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
                      f'<xsl:template match="/"><out>&s;<xsl:copy-of select="document(\'file://{secret}\')"/></out>'
                      '</xsl:template></xsl:stylesheet>')
    with pytest.raises(MappingError):
        apply_mapping(source, reader, tmp_path / "out.xml")
    assert not (tmp_path / "out.xml").exists()
    writer = tmp_path / "writer.xslt"
    writer.write_text('<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform" '
                      'xmlns:exsl="http://exslt.org/common" extension-element-prefixes="exsl">'
                      f'<xsl:template match="/"><exsl:document href="{tmp_path}/planted.txt">x</exsl:document>'
                      '<out/></xsl:template></xsl:stylesheet>')
    with pytest.raises(MappingError):
        apply_mapping(source, writer, tmp_path / "out2.xml")
    assert not (tmp_path / "planted.txt").exists()


def test_download_rendering_keeps_amazon_field_names(tmp_path: Path) -> None:
    order = generate_orders(8, ORDERS_START)[0]
    source = tmp_path / "amazon_orders.xml"
    counts = write_orders_xml([{"orders": [order, order]}], source, window={"lastUpdatedAfter": "x"})
    assert (counts.received, counts.written, counts.repeated) == (2, 1, 1)
    root = etree.parse(str(source)).getroot()
    assert root.get("lastUpdatedAfter") == "x"
    assert root.findtext("Order/orderId") == order["orderId"]
    assert len(root.findall("Order/orderItems")) == len(order["orderItems"])
    postcode = order["recipient"]["deliveryAddress"]["postalCode"]
    assert root.findtext("Order/recipient/deliveryAddress/postalCode") == postcode


def test_export_date_keeps_out_orders_placed_before_it(tmp_path: Path) -> None:
    from datetime import datetime, timezone

    orders = generate_orders(20, ORDERS_START, days=4)
    floor = datetime(2026, 11, 18, tzinfo=timezone.utc)
    counts = write_orders_xml([{"orders": orders}], tmp_path / "a.xml", window={}, export_date=floor)
    kept = etree.parse(str(tmp_path / "a.xml")).getroot().xpath("Order/createdTime/text()")
    assert kept and all(created >= "2026-11-18" for created in kept)
    assert counts.before_export_date == sum(1 for o in {v["orderId"]: v for v in orders}.values()
                                            if o["createdTime"] < "2026-11-18")


def test_chunked_mapping_gives_the_same_document(tmp_path: Path) -> None:
    versions = generate_orders(250, ORDERS_START, days=3)
    source = tmp_path / "amazon_orders.xml"
    write_orders_xml([{"orders": versions}], source, window={"lastUpdatedAfter": "2026-11-15T00:00:00Z"})
    whole = apply_mapping(source, MAPPING, tmp_path / "whole.xml", settings.orders_mapping_parameters())
    for threads in (1, 3):
        chunked = apply_mapping_in_chunks(source, MAPPING, tmp_path / f"chunked{threads}.xml",
                                          settings.orders_mapping_parameters(), record="Order",
                                          output_records="SalesOrder", chunk_size=7, threads=threads)
        assert etree.canonicalize(from_file=str(whole), strip_text=True) == \
            etree.canonicalize(from_file=str(chunked.path), strip_text=True)
        assert chunked.records_in == len(etree.parse(str(source)).getroot().findall("Order")) == \
            chunked.records_out == len(etree.parse(str(whole)).getroot().findall("SalesOrders/SalesOrder"))
    empty = tmp_path / "empty.xml"
    empty.write_text("<Orders/>")
    result = apply_mapping_in_chunks(empty, MAPPING, tmp_path / "e.xml", record="Order", output_records="SalesOrder")
    assert etree.parse(str(result.path)).getroot().find("SalesOrders") is not None
    assert (result.records_in, result.records_out) == (0, 0)


def _awkward(text: str, case: str) -> tuple[str, str]:
    """The orders file with something a byte cut cannot carry, and its encoding."""
    second = text.index("<Order>", text.index("<Order>") + 1)
    if case == "comment":
        return text.replace("<orderId>", "<!-- </Order> --><orderId>", 3), "utf-8"
    if case == "cdata":
        return text.replace("<channelName>AMAZON</channelName>",
                            "<channelName><![CDATA[AMAZON</Order>]]></channelName>", 2), "utf-8"
    if case == "spaced end tag":
        return text.replace("</Order>", "</Order >", 4), "utf-8"
    if case == "sibling between records":
        return text[:second] + "<Note>not an order</Note>" + text[second:], "utf-8"
    if case == "doctype":
        return text.replace("<Orders>", '<!DOCTYPE Orders [<!ENTITY shop "Tea">]><Orders>', 1), "utf-8"
    assert case == "latin-1"
    return text.replace("utf-8", "iso-8859-1", 1).replace("AMAZON</channelName>", "AMAZÖN</channelName>"), \
        "iso-8859-1"


@pytest.mark.parametrize("case", ["comment", "cdata", "spaced end tag", "sibling between records", "doctype",
                                  "latin-1"])
def test_chunked_mapping_of_what_a_byte_cut_cannot_carry_is_still_the_whole_mapping(tmp_path, case) -> None:
    from amazon_sage.core.mapping.chunked_mapping import _cut_chunks, _CutUnsafe

    source = tmp_path / "amazon_orders.xml"
    write_orders_xml([{"orders": generate_orders(40, ORDERS_START, days=2)}], source, window={})
    plain = list(_cut_chunks(source, "Order", 7))  # the fast way applies to the product's own files
    assert [chunk.records for chunk in plain][:2] == [7, 7]
    assert sum(chunk.records for chunk in plain) == len(etree.parse(str(source)).getroot())
    assert all(chunk.document() is not None for chunk in plain)

    text, encoding = _awkward(source.read_text(encoding="utf-8"), case)
    awkward = tmp_path / "awkward.xml"
    awkward.write_bytes(text.encode(encoding, "xmlcharrefreplace"))
    with pytest.raises(_CutUnsafe):  # refused at the cut, or by a worker's check of a chunk
        for chunk in _cut_chunks(awkward, "Order", 7):
            chunk.document()
    parameters = settings.orders_mapping_parameters()
    whole = apply_mapping(awkward, MAPPING, tmp_path / "whole.xml", parameters)
    chunked = apply_mapping_in_chunks(awkward, MAPPING, tmp_path / "chunked.xml", parameters, record="Order",
                                      output_records="SalesOrder", chunk_size=7, threads=2)
    assert etree.canonicalize(from_file=str(whole), strip_text=True) == \
        etree.canonicalize(from_file=str(chunked.path), strip_text=True)
    assert len(etree.parse(str(chunked.path)).getroot().findall("SalesOrders/SalesOrder")) > 20


def test_chunked_mapping_errors_in_any_chunk_name_the_cause_and_write_nothing(tmp_path: Path) -> None:
    """A bad record deep in the file, or a mapping that stops on one, fails the whole file: no partial output."""
    source = tmp_path / "amazon_orders.xml"
    write_orders_xml([{"orders": generate_orders(60, ORDERS_START, days=1)}], source, window={})
    text = source.read_text(encoding="utf-8")
    broken = tmp_path / "broken.xml"
    broken.write_text(text.replace("</Orders>", "<Order><orderId>x</Order></Orders>"), encoding="utf-8")
    last_line = broken.read_text(encoding="utf-8").count("\n") + 1
    output = tmp_path / "out.xml"
    with pytest.raises(XmlFileError, match=rf"broken.xml:{last_line}.*not well-formed"):
        apply_mapping_in_chunks(broken, MAPPING, output, record="Order", output_records="SalesOrder",
                                chunk_size=5, threads=2)
    assert not output.exists()

    picky = tmp_path / "picky.xslt"  # stops on one order that sits in the last chunk
    last_id = etree.parse(str(source)).getroot().xpath("string(Order[last()]/orderId)")
    picky.write_text('<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
                     '<xsl:template match="/"><Out><xsl:apply-templates select="Orders/Order"/></Out></xsl:template>'
                     '<xsl:template match="Order"><xsl:if test="orderId = \'' + last_id + '\'">'
                     '<xsl:message terminate="yes">order <xsl:value-of select="orderId"/> is not wanted</xsl:message>'
                     '</xsl:if><Rec><xsl:value-of select="orderId"/></Rec></xsl:template></xsl:stylesheet>')
    with pytest.raises(MappingError, match=rf"picky.xslt failed on .*amazon_orders.xml.*order {last_id} is not wanted"):
        apply_mapping_in_chunks(source, picky, output, record="Order", output_records="Rec", chunk_size=5, threads=2)
    assert not output.exists()
    with pytest.raises(XmlFileError, match=r"does not exist"):
        apply_mapping_in_chunks(tmp_path / "missing.xml", MAPPING, output, record="Order", output_records="SalesOrder")
    with pytest.raises(ValueError, match=r"threads must be 0 \(one per core\) or more.*threads=-1"):
        apply_mapping_in_chunks(source, MAPPING, output, record="Order", output_records="SalesOrder", threads=-1)


def test_reader_keeps_yielded_orders_whole_and_reads_a_lone_order(tmp_path: Path) -> None:
    """The import keeps orders past the reader's next step (no copies), so they must stay whole."""
    versions = generate_orders(12, ORDERS_START, days=1)
    zynk = _map(tmp_path, versions)
    kept = list(iter_sales_order_elements(zynk))
    expected = {v["orderId"] for v in versions}
    assert {parse_sales_order(e).id for e in kept} == expected
    assert all(e.find("SalesOrderItems/Item/Sku") is not None for e in kept)
    lone = tmp_path / "lone.xml"
    lone.write_bytes(etree.tostring(kept[0]))
    assert [parse_sales_order(e).id for e in iter_sales_order_elements(lone)] == [parse_sales_order(kept[0]).id]


def _half_up(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), "ROUND_HALF_UP")


def test_amounts_with_more_than_pence_round_half_up_like_decimals(tmp_path: Path) -> None:
    """Amazon's amounts are decimal strings; 1.005 must give 1.01 although its double is 1.00499999..."""
    rng = random.Random(11)
    versions = [v for v in latest_versions(generate_orders(300, ORDERS_START, days=2, seed=9)) if "proceeds" in v]
    for version in versions:
        for item in version["orderItems"]:
            item["product"]["price"]["unitPrice"]["amount"] = f"{rng.randrange(1, 90)}.{rng.randrange(1000):03d}"
            for breakdown in item["proceeds"]["breakdowns"]:
                if breakdown["type"] == "SHIPPING":
                    breakdown["subtotal"]["amount"] = f"{rng.randrange(1, 9)}.{rng.randrange(1000):03d}"
    versions[0]["orderItems"][0]["product"]["price"]["unitPrice"]["amount"] = "1.005"
    by_id = {v["orderId"]: v for v in versions}
    checked = 0
    for element in iter_sales_order_elements(_map(tmp_path, versions)):
        order = parse_sales_order(element)
        amazon = by_id[order.id]
        for line, item in zip(order.lines, amazon["orderItems"], strict=True):
            discount = -sum((Decimal(b["subtotal"]["amount"]) for b in item["proceeds"]["breakdowns"]
                             if b["type"] == "DISCOUNT" and "detailedBreakdowns" not in b), Decimal(0)) \
                - sum((Decimal(d["value"]["amount"]) for b in item["proceeds"]["breakdowns"] if b["type"] == "DISCOUNT"
                       for d in b.get("detailedBreakdowns", []) if d["subtype"] == "ITEM"), Decimal(0))
            gross = _half_up(Decimal(item["product"]["price"]["unitPrice"]["amount"])) * item["quantityOrdered"] \
                - _half_up(discount)
            assert line.total_net + line.total_tax == gross, (order.id, item["product"]["price"])
            assert line.total_net == _half_up(gross / Decimal("1.2")), order.id
            checked += 1
        shipping = _half_up(sum((Decimal(b["subtotal"]["amount"]) for i in amazon["orderItems"]
                                 for b in i["proceeds"]["breakdowns"] if b["type"] == "SHIPPING"), Decimal(0)))
        shipping_discount = _half_up(-sum((Decimal(d["value"]["amount"]) for i in amazon["orderItems"]
                                           for b in i["proceeds"]["breakdowns"] if b["type"] == "DISCOUNT"
                                           for d in b.get("detailedBreakdowns", []) if d["subtype"] == "SHIPPING"),
                                          Decimal(0)))
        carriage = order.carriage.total_net + order.carriage.total_tax if order.carriage else Decimal(0)
        assert carriage == shipping - shipping_discount, order.id
    first = parse_sales_order(next(iter_sales_order_elements(tmp_path / "zynk_orders.xml")))
    assert first.lines[0].total_net + first.lines[0].total_tax == Decimal("1.01") * first.lines[0].quantity
    assert checked > 300


def test_a_file_cut_at_a_record_boundary_is_refused_and_leaves_no_output(tmp_path: Path) -> None:
    """Only the closing root tag is missing: every chunk parses, yet the file is not whole."""
    source = tmp_path / "amazon_orders.xml"
    write_orders_xml([{"orders": generate_orders(40, ORDERS_START, days=1)}], source, window={})
    text = source.read_text(encoding="utf-8")
    output = tmp_path / "zynk_orders.xml"
    for case, broken in (("no-root-end", text.replace("</Orders>", "")),
                         ("after-the-root", text.replace("</Orders>", "</Orders></Orders>")),
                         ("cut-after-a-record", text[:text.index("</Order>", len(text) // 2) + len("</Order>")])):
        cut = tmp_path / f"{case}.xml"
        cut.write_text(broken, encoding="utf-8")
        with pytest.raises(XmlFileError, match=rf"{case}.xml:\d+ is not well-formed XML"):
            apply_mapping_in_chunks(cut, MAPPING, output, settings.orders_mapping_parameters(), record="Order",
                                    output_records="SalesOrder", chunk_size=5, threads=2)
        assert not output.exists() and not list(tmp_path.glob("*.tmp*")), case


def test_records_the_mapping_does_not_find_are_an_error_naming_what_was_found(tmp_path: Path) -> None:
    source = tmp_path / "amazon_orders.xml"
    write_orders_xml([{"orders": generate_orders(8, ORDERS_START, days=1)}], source, window={})
    renamed = tmp_path / "order_list.xml"
    renamed.write_text(source.read_text(encoding="utf-8").replace("<Orders", "<OrderList")
                       .replace("</Orders>", "</OrderList>"), encoding="utf-8")
    output = tmp_path / "zynk_orders.xml"
    with pytest.raises(MappingError, match=r"made no <SalesOrder> from the \d+ <Order> records of .*order_list.xml "
                                           r"\(root element <OrderList>\)"):
        apply_mapping_in_chunks(renamed, MAPPING, output, settings.orders_mapping_parameters(), record="Order",
                                output_records="SalesOrder")
    assert not output.exists()
    empty = tmp_path / "no_orders.xml"
    empty.write_text("<Orders/>")  # a window without orders still maps, to an empty document
    apply_mapping_in_chunks(empty, MAPPING, output, record="Order", output_records="SalesOrder")
    assert etree.parse(str(output)).getroot().find("SalesOrders") is not None
