"""Buyer PII taken out of a run's files, what the books need left in: the rewrite that retention of PII makes.

Removed, wherever they are in the Amazon download (``amazon_orders.xml``) and the Zynk order files
(``zynk_orders*.xml``):

* every address (Amazon's ``deliveryAddress`` and ``taxRegistrationAddress``, Zynk's
  ``SalesOrderAddress`` and ``SalesOrderDeliveryAddress``) down to its **postcode area** (the letters
  that start a UK postcode: ``LS1 4AB`` -> ``LS``; else the first two characters) and **country**,
  which are VAT evidence (Northern Ireland's ``BT``, exports); names, companies, address lines,
  towns, counties, phones and e-mails inside them go;
* the buyer's name, e-mail and company name, a business buyer's legal name, delivery instructions
  (``deliveryPreference``) and gift messages (``giftMessage``), and Zynk's contact fields
  (``Forename``, ``Surname``, ``Email``, ``Telephone``, ``Mobile``, ``Fax``) wherever they are.

Kept: everything else, so order ids, dates, statuses, SKUs, quantities, prices, amounts, VAT, the
buyer's purchase order number and VAT number, Sage numbers and errors stay as they were. Other
files (stock records, feeds, reports, the import's journal) hold no buyer data and are copied as
they are.

XML is rewritten one record at a time (an ``<Order>``, or a ``<SalesOrder>`` of a Zynk file), so a
file of 100k orders never is a tree in memory. Each record is checked after the rewrite: no text left
in it may contain a value that was removed from it (a name copied into another field, say), or
:class:`RedactionError` names the record and the element. An order file that is not well-formed
cannot be read record by record, so it is left out of the rewritten archive, and named.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lxml import etree

from amazon_sage.core.files import atomic_output
from amazon_sage.core.xml_files import XmlFileError, iterparse_xml_file, root_tag

ADDRESSES = frozenset(("deliveryAddress", "taxRegistrationAddress", "SalesOrderAddress", "SalesOrderDeliveryAddress"))
KEPT_IN_ADDRESSES = {"postalCode": "postcode", "Postcode": "postcode", "countryCode": "country", "Country": "country",
                     "addressType": "type"}
REMOVED = frozenset(("buyerName", "buyerEmail", "buyerCompanyName", "legalName", "deliveryPreference", "giftMessage",
                     "Forename", "Surname", "Email", "Telephone", "Mobile", "Fax"))
# Where a file's records are: depth below the root (Orders/Order, Company/SalesOrders/SalesOrder).
RECORD_DEPTH = {"Orders": 1, "Company": 2}
OUTWARD_LETTERS = re.compile(r"^\s*([A-Za-z]{1,2})(?=\d)")
ORDER_FILES = re.compile(r"^(amazon_orders|zynk_orders)[^/]*\.xml$")
SHORTEST_CHECKED = 4  # removed values shorter than this ("GB", "27") may rightly appear elsewhere
RECORD_IDS = ("orderId", "CustomerOrderNumber", "Id")


class RedactionError(Exception):
    """Buyer data could not be taken out of a file with certainty; the archive is left as it was."""


def postcode_area(postcode: str) -> str:
    """``LS1 4AB`` -> ``LS``, ``M1 1AE`` -> ``M``; a postcode that does not start with letters keeps two characters."""
    match = OUTWARD_LETTERS.match(postcode)
    return match.group(1).upper() if match else postcode.strip()[:2]


def _texts(element: Any) -> set[str]:
    return {text.strip() for text in element.itertext() if text and text.strip()}


def redact_record(record: Any) -> set[str]:
    """Take buyer PII out of one record in place; return the values removed (whole texts, postcodes too)."""
    removed: set[str] = set()
    for element in list(record.iter(*REMOVED)):
        if element.getparent() is not None:
            removed |= _texts(element)
            element.getparent().remove(element)
    for address in list(record.iter(*ADDRESSES)):
        for child in list(address):
            if child.tag in KEPT_IN_ADDRESSES and KEPT_IN_ADDRESSES[child.tag] == "postcode" and child.text:
                if postcode_area(child.text) != child.text.strip():
                    removed.add(child.text.strip())
                    child.text = postcode_area(child.text)
            elif child.tag not in KEPT_IN_ADDRESSES:
                removed |= _texts(child)
                address.remove(child)
    return removed


def record_id(record: Any) -> str:
    """The id of an ``<Order>`` (its Amazon order id) or ``<SalesOrder>`` (its customer order number, the same id)."""
    return next((record.findtext(f".//{tag}").strip() for tag in RECORD_IDS if record.find(f".//{tag}") is not None),
                "")


def _check_record(record: Any, removed: set[str], source: Path) -> None:
    """Raise :class:`RedactionError` if any text left in ``record`` still holds a value removed from it."""
    checked = [value for value in removed if len(value) >= SHORTEST_CHECKED]
    if not checked:
        return
    for element in record.iter():
        for text in (element.text, *element.attrib.values()):
            if text and any(value in text for value in checked):
                raise RedactionError(f"{source.name}: record {record_id(record) or '?'} still holds buyer data in "
                                     f"<{element.tag}> after the rewrite (a field this product does not know as buyer "
                                     "data). The archive is left as it was; report the field so that it is removed "
                                     "too.")


# Which records of a file to redact (an erasure's one buyer); None redacts them all.
Chooser = Callable[[Any], bool] | None


def _rewrite_xml(source: Path, target: Path, depth: int, chosen: Chooser = None) -> set[str]:
    removed: set[str] = set()
    with atomic_output(target) as tmp, etree.xmlfile(str(tmp), encoding="utf-8") as xf:
        xf.write_declaration()
        containers: list[Any] = []  # the open xf.element() contexts of the root and the collections
        level = -1
        for event, element in iterparse_xml_file(source, events=("start", "end")):
            if event == "start":
                level += 1
                if level < depth:
                    context = xf.element(element.tag, dict(element.attrib), nsmap=element.nsmap if level == 0 else None)
                    context.__enter__()
                    containers.append(context)
                continue
            if level == depth:
                if chosen is None or chosen(element):
                    taken = redact_record(element)
                    _check_record(element, taken, source)
                    removed |= taken
                element.tail = None
                xf.write(element, pretty_print=True)
                element.clear()
                parent = element.getparent()
                while parent is not None and element.getprevious() is not None:
                    del parent[0]  # the records already written: keep memory to one record
            elif level < depth:
                if element.text and element.text.strip() and len(element) == 0:
                    xf.write(element.text)
                containers.pop().__exit__(None, None, None)
            level -= 1
    return removed


def redact_file(source: Path, target: Path, chosen: Chooser = None) -> set[str] | None:
    """Write ``source`` to ``target`` without buyer PII; return the values removed (empty for files without any).

    With ``chosen``, only the records (``<Order>``, ``<SalesOrder>``) it returns true for lose their
    buyer data, and the others are written as they were. Returns None, writing nothing, for an order
    file that is not well-formed: it may hold buyer data that cannot be found in it, so it is not kept.
    """
    if ORDER_FILES.match(source.name):
        try:
            depth = RECORD_DEPTH.get(root_tag(source))
            if depth is not None:
                return _rewrite_xml(source, target, depth, chosen)
        except XmlFileError:
            target.unlink(missing_ok=True)
            return None
    shutil.copyfile(source, target)
    return set()
