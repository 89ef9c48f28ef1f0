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

from amazon_sage.core.xml_files import XmlFileError, iterparse_xml_file, root_tag

XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
ZYNK_ROOTS = ("Company", "SalesOrder")  # a Zynk document, or one order on its own


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


@dataclass(frozen=True)
class CancelledItem:
    """An item Amazon cancelled on an order that goes on (``CancelledItems/Item``): not an order line."""

    sku: str
    quantity: Decimal
    cancelled_by: str = ""
    reason: str = ""

    def describe(self) -> str:
        """``MUG-RED-01 x2 (by BUYER: NO_LONGER_NEEDED)``: how messages name it."""
        by = ": ".join(part for part in (self.cancelled_by, self.reason) if part)
        return f"{self.sku} x{self.quantity:f}" + (f" (by {by})" if by else "")


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
    cancellation_request: str = ""  # "BUYER: <reason>" when the buyer asked Amazon to cancel an open order
    cancelled_items: tuple[CancelledItem, ...] = ()


class _Fields:
    """An element's child elements and their stripped texts by tag (the first of each), read once."""

    __slots__ = ("children", "texts")

    def __init__(self, element: etree._Element):
        children: dict[str, etree._Element] = {}
        texts: dict[str, str] = {}
        for child in element.iterchildren(tag=etree.Element):  # elements only: no comments or PIs
            tag = child.tag
            if tag not in children:
                children[tag] = child
                text = child.text
                texts[tag] = text.strip() if text else ""
        self.children, self.texts = children, texts

    def find(self, name: str) -> etree._Element | None:
        return self.children.get(name)

    def text(self, name: str) -> str:
        return self.texts.get(name, "")

    def decimal(self, name: str) -> Decimal | None:
        """The number in ``name``; None when absent or ``xsi:nil``."""
        text = self.texts.get(name)
        if text is None or (not text and self.children[name].get(XSI_NIL) == "true"):
            return None
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise RecordError(f"<{name}> must hold a number, not {text!r}") from None
        if not value.is_finite():
            raise RecordError(f"<{name}> must hold a number, not {text!r}")
        return value

    def int(self, name: str) -> int | None:
        value = self.decimal(name)
        if value is None:
            return None
        if value != value.to_integral_value():
            raise RecordError(f"<{name}> must be a whole number, not {value}")
        return int(value)

    def datetime(self, name: str) -> datetime | None:
        text = self.text(name)
        if not text:
            return None
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise RecordError(f"<{name}> must be an xs:dateTime, not {text!r}") from None


CONTACT_TAGS = {"forename": "Forename", "surname": "Surname", "company": "Company", "address1": "Address1",
                "address2": "Address2", "address3": "Address3", "town": "Town", "county": "County",
                "postcode": "Postcode", "country": "Country", "telephone": "Telephone", "email": "Email"}


def _contact(element: etree._Element | None) -> Contact:
    if element is None:
        return Contact()
    texts = _Fields(element).texts
    return Contact(**{name: texts.get(tag, "") for name, tag in CONTACT_TAGS.items()})


def _line(element: etree._Element, where: str) -> OrderLine:
    item = _Fields(element)
    sku = item.text("Sku")
    quantity = item.decimal("QtyOrdered")
    if quantity is None or quantity <= 0:
        raise RecordError(f"{where} (Sku {sku or '?'}) needs a QtyOrdered above zero")
    return OrderLine(sku=sku, name=item.text("Name"), quantity=quantity, unit_price=item.decimal("UnitPrice"),
                     unit_discount=item.decimal("UnitDiscountAmount") or Decimal(0),
                     description=item.text("Description"), comments=item.text("Comments"),
                     tax_code=item.int("TaxCode"), tax_rate=item.decimal("TaxRate"),
                     nominal_code=item.text("NominalCode"),
                     total_net=item.decimal("TotalNet"), total_tax=item.decimal("TotalTax"))


def _cancelled_item(element: etree._Element) -> CancelledItem:
    item = _Fields(element)
    sku = item.text("Sku")
    if not sku:
        raise RecordError("CancelledItems/Item needs its Sku: the import marks the Sage line by it")
    return CancelledItem(sku=sku, quantity=item.decimal("QtyOrdered") or Decimal(0),
                         cancelled_by=item.text("CancelledBy"), reason=item.text("Reason"))


def parse_sales_order(element: etree._Element) -> SalesOrder:
    """Parse one ``SalesOrder`` element; raise :class:`RecordError` when it is invalid."""
    fields = _Fields(element)
    text = fields.text
    order_id = text("Id")
    if not order_id:
        raise RecordError("<Id> is empty: the Amazon order id is needed to prevent duplicates")
    # Entities are never expanded (they could read files), so one would leave its field silently empty.
    entity = next(element.iter(etree.Entity), None)
    if entity is not None:
        raise RecordError(f"<{entity.getparent().tag}> holds the entity reference {entity.text}, which is not "
                          "expanded: write the text itself (or a character reference such as &#233;)")
    lines = [_line(item, f"Item {n}") for n, item in enumerate(element.iterfind("SalesOrderItems/Item"), 1)]
    carriage_element = fields.find("Carriage")
    return SalesOrder(
        id=order_id,
        customer_order_number=text("CustomerOrderNumber") or order_id,
        account_reference=text("AccountReference"),
        order_date=fields.datetime("SalesOrderDate"),
        status=text("Status").upper(),
        currency=text("Currency") or "GBP",
        notes=(text("Notes1"), text("Notes2"), text("Notes3")),
        taken_by=text("TakenBy"),
        invoice=_contact(fields.find("SalesOrderAddress")),
        delivery=_contact(fields.find("SalesOrderDeliveryAddress")),
        lines=lines,
        carriage=_line(carriage_element, "Carriage") if carriage_element is not None else None,
        payment_amount=fields.decimal("PaymentAmount"),
        payment_ref=text("PaymentRef"),
        bank_account=text("BankAccount"),
        cancellation_request=text("CancellationRequest"),
        cancelled_items=tuple(_cancelled_item(item) for item in element.iterfind("CancelledItems/Item")),
    )


def iter_sales_order_elements(path: Path) -> Iterator[etree._Element]:
    """Yield each ``SalesOrder`` element of ``path`` in document order, streaming.

    Raises :class:`~amazon_sage.core.xml_files.XmlFileError` with the file and line when the file is
    missing or not well-formed, or when its records are not where Zynk puts them
    (``Company/SalesOrders/SalesOrder``, or one ``SalesOrder`` as the root): such a file would
    otherwise import nothing and look like an empty one.
    Each element is detached from the document when the caller asks for the next one, so
    memory stays flat, and an element the caller keeps stays whole (it need not copy it).
    """
    found = root_tag(path)
    if found not in ZYNK_ROOTS:
        raise XmlFileError(f"Input file {path}: the root element is <{found}>, but Zynk sales orders come in "
                           "<Company><SalesOrders><SalesOrder>: is this the mapped orders file?")
    for _, element in iterparse_xml_file(path, events=("end",), tag="SalesOrder"):
        parent = element.getparent()
        if parent is not None and parent.tag != "SalesOrders":
            raise XmlFileError(f"Input file {path}:{element.sourceline}: <SalesOrder> is inside <{parent.tag}>, "
                               "but Zynk sales orders go in <Company><SalesOrders>: check the mapping's output")
        yield element
        if parent is not None:  # a lone SalesOrder as the root has nothing to leave
            parent.remove(element)
