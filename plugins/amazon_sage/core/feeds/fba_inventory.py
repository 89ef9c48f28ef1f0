"""Amazon's FBA inventory report (``GET_FBA_MYI_UNSUPPRESSED_INVENTORY_DATA``): which SKUs Amazon stocks.

The report is a tab-separated flat file with a header row (``sku``, ``fnsku``, ``asin``, ``product-name``, ...,
``afn-listing-exists``, ...). A SKU is FBA when its ``afn-listing-exists`` is ``Yes``: such an offer must get no
seller-fulfilled (``DEFAULT``) quantity, which could switch it to seller-fulfilled.

Columns are found by their header names, so their order and any extra columns do not matter; a report without a
``sku`` or ``afn-listing-exists`` column raises :class:`FbaReportError`. Amazon writes EU flat files in UTF-8 or
in Cp1252 (ISO-8859-1): the bytes are read as UTF-8 and, failing that, as Cp1252, and the result says which.
Plain Python: no Airflow.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass

REPORT_TYPE = "GET_FBA_MYI_UNSUPPRESSED_INVENTORY_DATA"
SKU_COLUMN = "sku"
AFN_COLUMN = "afn-listing-exists"


class FbaReportError(ValueError):
    """The report cannot be read as an FBA inventory report (the message says why)."""


@dataclass(frozen=True)
class FbaInventory:
    """What the report says: the FBA SKUs, how many rows it had and the encoding it was read in."""

    skus: frozenset[str]
    rows: int
    encoding: str


def decode_report(data: bytes) -> tuple[str, str]:
    """``data`` as text and the encoding used: UTF-8 (a byte-order mark dropped), else Cp1252.

    Cp1252 leaves five bytes undefined; they are kept as U+FFFD rather than failing the whole report, since
    only the ``sku`` and ``afn-listing-exists`` columns matter.
    """
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace"), "cp1252"


def parse_fba_inventory(data: bytes) -> FbaInventory:
    """The FBA SKUs of a downloaded (already decompressed) report.

    Header names are matched without regard to case or surrounding spaces. Blank lines and rows without a SKU
    are ignored; a row shorter than the header counts its missing cells as empty.
    """
    text, encoding = decode_report(data)
    # Amazon does not quote flat-file cells: a product name may hold a lone quote, which must stay text.
    rows = csv.reader(text.splitlines(), delimiter="\t", quoting=csv.QUOTE_NONE)
    header = next(rows, None)
    if header is None:
        raise FbaReportError("The FBA inventory report is empty: it has no header row.")
    names = [name.strip().lower() for name in header]
    missing = [column for column in (SKU_COLUMN, AFN_COLUMN) if column not in names]
    if missing:
        raise FbaReportError(f"The FBA inventory report has no {' or '.join(repr(m) for m in missing)} column "
                             f"(its header: {', '.join(header[:20]) or 'empty'}); it is not a "
                             f"{REPORT_TYPE} report.")
    sku_at, afn_at = names.index(SKU_COLUMN), names.index(AFN_COLUMN)
    skus: set[str] = set()
    count = 0
    for row in rows:
        sku = row[sku_at].strip() if len(row) > sku_at else ""
        if not sku:
            continue
        count += 1
        if len(row) > afn_at and row[afn_at].strip().lower() == "yes":
            skus.add(sku)
    return FbaInventory(frozenset(skus), count, encoding)
