"""What the Sage exports share: Sage values as Zynk XML text, and the streamed ``Company/<collection>`` file.

Sage keeps numbers as binary doubles; Zynk files show them as the short decimals Sage shows
(``12.5``, ``40``). A NULL becomes an empty element marked ``xsi:nil``, so a mapping can tell
"none" from zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from lxml import etree

from amazon_sage.core.files import atomic_output

XSI = "http://www.w3.org/2001/XMLSchema-instance"
NIL_ATTRIBUTE = {f"{{{XSI}}}nil": "true"}


@lru_cache(maxsize=8192)  # prices and quantities repeat across a catalogue
def sage_number(value: Any) -> str | None:
    """Sage's DOUBLE as a short exact decimal string (``12.5``, ``40``), None stays None."""
    if value is None:
        return None
    text = format(Decimal(repr(float(value))).normalize(), "f")
    return "0" if text in {"-0", "0"} else text


def sage_time(value: Any) -> str | None:
    """A DATE or TIMESTAMP as ISO 8601 (the drivers give ``date``/``datetime``; some give text)."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value) if value else None


def record_element(tag: str, fields: Iterable[tuple[str, str | None]]) -> etree._Element:
    """``<tag>`` with one child per ``(name, text)``; a None text is ``xsi:nil``."""
    record = etree.Element(tag)
    for name, text in fields:
        if text is None:
            etree.SubElement(record, name, NIL_ATTRIBUTE)
        else:
            etree.SubElement(record, name).text = text
    return record


@contextmanager
def zynk_document(output: Path, collection: str) -> Iterator[Any]:
    """An ``etree.xmlfile`` writer inside ``Company/<collection>``, moved into place only when complete."""
    with atomic_output(output) as tmp, etree.xmlfile(str(tmp), encoding="utf-8") as xf:
        xf.write_declaration()
        with xf.element("Company", nsmap={"xsi": XSI}), xf.element(collection):
            yield xf
