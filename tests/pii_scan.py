"""Find buyer values in files and SQLite databases, byte by byte: the scanner of the buyer-data proofs.

Only *distinctive* buyer values are looked for (see :func:`buyer_values`): a town, county, country
code or "Flat 3" is shared by many orders and appears in places that hold no buyer data (a DAG's
documentation, a test's name), so finding one would prove nothing. Each value is looked for as UTF-8
and as JSON and XML would write it (``\\u00eb`` for ``ë``, ``&amp;`` for ``&``), in plain bytes and
inside zlib/gzip-compressed blobs (Airflow may compress serialized DAGs).
"""

from __future__ import annotations

import gzip
import html
import json
import re
import sqlite3
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# A second address line like "Flat 12" is shared by orders and too short to be distinctive.
COMMON = re.compile(r"^Flat \d+$")
SHORTEST = 8


def buyer_values(orders: Iterable[dict[str, Any]]) -> set[str]:
    """The distinctive buyer values of ``orders`` (Orders API v2026-01-01 JSON): names, e-mails, company names,
    phones, address lines, postcodes, delivery instructions and gift messages.

    Left out on purpose: towns, counties, country codes, address types and values shorter than 8
    characters or like "Flat 12": they are not one buyer's and would match innocent text.
    """
    values: set[str] = set()
    for order in orders:
        buyer = order.get("buyer", {})
        values |= {buyer.get("buyerName"), buyer.get("buyerEmail"), buyer.get("buyerCompanyName")}
        recipient = order.get("recipient", {})
        address = recipient.get("deliveryAddress", {})
        values |= {address.get(key) for key in ("name", "companyName", "addressLine1", "addressLine2", "addressLine3",
                                                "phone", "postalCode")}
        values |= {text for text in recipient.get("deliveryPreference", {}).values() if isinstance(text, str)}
        for item in order.get("orderItems", []):
            gift = item.get("fulfillment", {}).get("packing", {}).get("giftOption", {})
            values.add(gift.get("giftMessage"))
    return {v for v in values if isinstance(v, str) and len(v) >= SHORTEST and not COMMON.match(v)}


def _needles(values: Iterable[str]) -> dict[bytes, str]:
    """Each value's byte forms (UTF-8, JSON-escaped, XML-escaped), mapped back to the value."""
    needles: dict[bytes, str] = {}
    for value in values:
        for form in (value, json.dumps(value)[1:-1], html.escape(value, quote=False)):
            needles[form.encode()] = value
    return needles


def _expanded(data: bytes) -> list[bytes]:
    """``data``, and what it decompresses to if it is a zlib stream or gzip file."""
    for inflate in (zlib.decompress, gzip.decompress):
        try:
            return [data, inflate(data)]
        except (zlib.error, OSError, EOFError):
            continue
    return [data]


def found_in_bytes(data: bytes, values: Iterable[str]) -> set[str]:
    """The values that occur in ``data`` (or in what it decompresses to)."""
    needles = _needles(values)
    return {value for blob in _expanded(data) for needle, value in needles.items() if needle in blob}


def found_in_files(root: Path, values: Iterable[str]) -> dict[str, set[str]]:
    """Every file under ``root`` (recursively) that holds a value: its path relative to ``root`` -> the values."""
    values = set(values)
    hits = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if found := found_in_bytes(path.read_bytes(), values):
            hits[str(path.relative_to(root))] = found
    return hits


def found_in_sqlite(database: Path, values: Iterable[str]) -> dict[str, set[str]]:
    """Where a SQLite database holds a value: ``<table>.<column>`` of every text and blob cell read back with
    SELECT, and ``file:<name>`` for the raw bytes of the database file and its journal or WAL (which keep
    the text of deleted rows too)."""
    values = set(values)
    hits: dict[str, set[str]] = {}
    for path in sorted(database.parent.glob(database.name + "*")):
        if found := found_in_bytes(path.read_bytes(), values):
            hits[f"file:{path.name}"] = found
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            cursor = connection.execute(f'SELECT * FROM "{table}"')
            columns = [column[0] for column in cursor.description]
            for row in cursor:
                for column, cell in zip(columns, row, strict=True):
                    data = cell.encode() if isinstance(cell, str) else cell if isinstance(cell, bytes) else None
                    if data and (found := found_in_bytes(data, values)):
                        hits.setdefault(f"{table}.{column}", set()).update(found)
    finally:
        connection.close()
    return hits
