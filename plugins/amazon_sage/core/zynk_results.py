"""Success, fail and skipped files in Zynk's shape: each record as read, annotated.

* success: the record with Sage's ``SalesOrderNumber`` filled in;
* fail: the record with an ``<Errors>`` block as its first child (Zynk's format);
* skipped: the record with a ``<Warnings>`` block of the same shape and, when the order is
  in Sage already, its ``SalesOrderNumber``. Duplicates are skipped, not failed.
"""

from __future__ import annotations

import copy
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lxml import etree

from amazon_sage.core.files import atomic_output

XSI = "http://www.w3.org/2001/XMLSchema-instance"
IMPORT_STAGE = "Sales Order Import"  # the stage named in a record's Errors/Warnings unless told otherwise


def _messages_block(tag: str, child_tag: str, stage: str, messages: list[str]) -> etree._Element:
    block = etree.Element(tag)
    when = datetime.now(UTC).astimezone().isoformat()
    for message in messages:
        entry = etree.SubElement(block, child_tag)
        etree.SubElement(entry, "Date").text = when
        etree.SubElement(entry, "Name").text = stage
        etree.SubElement(entry, "Description").text = message
    return block


def set_sales_order_number(record: etree._Element, number: int) -> None:
    """Put ``SalesOrderNumber`` in its schema position (after ``CustomerId``/``Id``)."""
    for old in list(record.iterchildren("SalesOrderNumber")):
        record.remove(old)
    element = etree.Element("SalesOrderNumber")
    element.text = str(number)
    anchor = next(record.iterchildren("CustomerId"), None)
    if anchor is None:
        anchor = next(record.iterchildren("Id"), None)
    if anchor is not None:
        anchor.addnext(element)
    else:
        record.insert(0, element)


class RecordFiles:
    """Writes annotated copies of records into named files of ``Company/<collection>``.

    Files are written under temporary names and moved into place when the context exits
    normally, so a crashed import leaves no misleading half file.
    """

    def __init__(self, paths: dict[str, Path], collection: str):
        self.paths, self.collection = paths, collection
        self.counts = {kind: 0 for kind in paths}
        self._stack = ExitStack()
        self._writers: dict[str, Any] = {}

    def __enter__(self) -> RecordFiles:
        for kind, path in self.paths.items():
            tmp = self._stack.enter_context(atomic_output(path))
            xf = self._stack.enter_context(etree.xmlfile(str(tmp), encoding="utf-8"))
            xf.write_declaration()
            self._stack.enter_context(xf.element("Company", nsmap={"xsi": XSI}))
            self._stack.enter_context(xf.element(self.collection))
            self._writers[kind] = xf
        return self

    def __exit__(self, *exc_info: Any) -> bool | None:
        return self._stack.__exit__(*exc_info)

    def write(self, kind: str, record: etree._Element, *, errors: list[str] | None = None,
              warnings: list[str] | None = None, stage: str = IMPORT_STAGE,
              sales_order_number: int | None = None, owned: bool = False) -> None:
        """Write an annotated copy of ``record`` (``owned``: the caller's own copy, annotated in place)."""
        copy_ = record if owned else copy.deepcopy(record)
        if sales_order_number is not None:
            set_sales_order_number(copy_, sales_order_number)
        for old in list(copy_.iterchildren("Errors", "Warnings")):
            copy_.remove(old)
        if warnings:
            copy_.insert(0, _messages_block("Warnings", "Warning", stage, warnings))
        if errors:
            copy_.insert(0, _messages_block("Errors", "Error", stage, errors))
        copy_.tail = None
        self._writers[kind].write(copy_, pretty_print=True)
        self.counts[kind] += 1
