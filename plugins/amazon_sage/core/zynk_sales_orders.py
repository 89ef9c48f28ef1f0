"""Read Zynk XML sales orders (``Company/SalesOrders/SalesOrder``) one record at a time.

Each record is parsed into a :class:`SalesOrder`; a record that cannot be understood gives
a :class:`RecordError` naming the element, so that one bad order fails alone. The parser is
streaming and never expands entities or touches the network.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from lxml import etree

from amazon_sage.core.xslt import MappingError

XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"


class RecordError(Exception):
    """A record's content is invalid (bad number, missing required element)."""


@dataclass
class Contact:
    forename: str = ""
    surname: str = ""
    company: str = ""
    address1: str = ""
    address2: str = ""
    address3: str = ""
    town: str = ""
    county: str = ""
    postcode: str = ""
    country: str = ""
    telephone: str = ""
    email: str = ""


@dataclass
class OrderLine:
    sku: str
    name: str
    quantity: Decimal
    unit_price: Decimal | None
    unit_discount: Decimal = Decimal(0)
    comments: str = ""
    description: str = ""
    tax_code: int | None = None
    tax_rate: Decimal | None = None
    nominal_code: str = ""
    total_net: Decimal | None = None
    total_tax: Decimal | None = None


@dataclass
class SalesOrder:
    id: str
    customer_order_number: str
    account_reference: str
    order_date: datetime | None
    status: str
    currency: str = "GBP"
    notes: tuple[str, str, str] = ("", "", "")
    taken_by: str = ""
    invoice: Contact = field(default_factory=Contact)
    delivery: Contact = field(default_factory=Contact)
    lines: list[OrderLine] = field(default_factory=list)
    carriage: OrderLine | None = None
    payment_amount: Decimal | None = None
    payment_ref: str = ""
    bank_account: str = ""


class _Fields:
    """An element's children by tag, looked up once (records have a few dozen fields)."""

    __slots__ = ("children",)

    def __init__(self, element: etree._Element):
        self.children: dict[str, etree._Element] = {}
        for child in element:
            if isinstance(child.tag, str):
                self.children.setdefault(child.tag, child)

    def find(self, name: str) -> etree._Element | None:
        return self.children.get(name)


def _text(parent: etree._Element | _Fields, name: str) -> str:
    child = parent.find(name)
    return (child.text or "").strip() if child is not None else ""


def _decimal(parent: etree._Element | _Fields, name: str) -> Decimal | None:
    child = parent.find(name)
    if child is None or child.get(XSI_NIL) == "true":
        return None
    text = (child.text or "").strip()
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise RecordError(f"<{name}> must hold a number, not {text!r}") from None
    if not value.is_finite():
        raise RecordError(f"<{name}> must hold a number, not {text!r}")
    return value


def _int(parent: etree._Element | _Fields, name: str) -> int | None:
    value = _decimal(parent, name)
    if value is None:
        return None
    if value != value.to_integral_value():
        raise RecordError(f"<{name}> must be a whole number, not {value}")
    return int(value)


def _datetime(parent: etree._Element | _Fields, name: str) -> datetime | None:
    text = _text(parent, name)
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise RecordError(f"<{name}> must be an xs:dateTime, not {text!r}") from None


def _contact(element: etree._Element | None) -> Contact:
    if element is None:
        return Contact()
    fields = _Fields(element)
    return Contact(**{name: _text(fields, tag) for name, tag in (
        ("forename", "Forename"), ("surname", "Surname"), ("company", "Company"), ("address1", "Address1"),
        ("address2", "Address2"), ("address3", "Address3"), ("town", "Town"), ("county", "County"),
        ("postcode", "Postcode"), ("country", "Country"), ("telephone", "Telephone"), ("email", "Email"))})


def _line(element: etree._Element, where: str) -> OrderLine:
    item = _Fields(element)
    sku = _text(item, "Sku")
    quantity = _decimal(item, "QtyOrdered")
    if quantity is None or quantity <= 0:
        raise RecordError(f"{where} (Sku {sku or '?'}) needs a QtyOrdered above zero")
    return OrderLine(sku=sku, name=_text(item, "Name"), quantity=quantity, unit_price=_decimal(item, "UnitPrice"),
                     unit_discount=_decimal(item, "UnitDiscountAmount") or Decimal(0),
                     description=_text(item, "Description"), comments=_text(item, "Comments"),
                     tax_code=_int(item, "TaxCode"), tax_rate=_decimal(item, "TaxRate"),
                     nominal_code=_text(item, "NominalCode"),
                     total_net=_decimal(item, "TotalNet"), total_tax=_decimal(item, "TotalTax"))


def parse_sales_order(element: etree._Element) -> SalesOrder:
    """Parse one ``SalesOrder`` element; raise :class:`RecordError` when it is invalid."""
    fields = _Fields(element)
    order_id = _text(fields, "Id")
    if not order_id:
        raise RecordError("<Id> is empty: the Amazon order id is needed to prevent duplicates")
    lines = [_line(item, f"Item {n}") for n, item in enumerate(element.iterfind("SalesOrderItems/Item"), 1)]
    carriage_element = fields.find("Carriage")
    return SalesOrder(
        id=order_id,
        customer_order_number=_text(fields, "CustomerOrderNumber") or order_id,
        account_reference=_text(fields, "AccountReference"),
        order_date=_datetime(fields, "SalesOrderDate"),
        status=_text(fields, "Status").upper(),
        currency=_text(fields, "Currency") or "GBP",
        notes=(_text(fields, "Notes1"), _text(fields, "Notes2"), _text(fields, "Notes3")),
        taken_by=_text(fields, "TakenBy"),
        invoice=_contact(fields.find("SalesOrderAddress")),
        delivery=_contact(fields.find("SalesOrderDeliveryAddress")),
        lines=lines,
        carriage=_line(carriage_element, "Carriage") if carriage_element is not None else None,
        payment_amount=_decimal(fields, "PaymentAmount"),
        payment_ref=_text(fields, "PaymentRef"),
        bank_account=_text(fields, "BankAccount"),
    )


def iter_sales_order_elements(path: Path) -> Iterator[etree._Element]:
    """Yield each ``SalesOrder`` element of ``path`` in document order, streaming.

    Raises :class:`MappingError` with the file and line when the file is not well-formed.
    Elements are cleared after the caller has used them, so memory stays flat.
    """
    if not path.is_file():
        raise MappingError(f"Input file {path} does not exist")
    context = etree.iterparse(str(path), events=("end",), tag="SalesOrder", resolve_entities=False,
                              load_dtd=False, no_network=True, huge_tree=True)
    try:
        for _, element in context:
            if element.getparent() is not None and element.getparent().tag != "SalesOrders":
                continue
            yield element
            element.clear()
            while element.getprevious() is not None:
                del element.getparent()[0]
    except etree.XMLSyntaxError as exc:
        raise MappingError(f"Input file {path}:{exc.lineno} is not well-formed XML: {exc.msg}") from None
