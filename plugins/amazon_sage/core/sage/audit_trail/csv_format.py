"""Sage 50's audit-trail transaction import file: its columns, its rules, its encoding.

The columns are those of Sage's "Audit Trail Transaction" import template, in its order. The
rules are Sage's (Sage 50 Accounts knowledge base, the audit trail transactions import's field
list: https://gb-kb.sage.com/portal/app/portlets/results/view2.jsp?k2dockey=250321114601443; the
lengths match ``AUDIT_HEADER``/``AUDIT_SPLIT`` in Zynk's published Sage 50 UK schema):

==================  ==========================================================================
Type                two letters; SI, SC, SA ... but never SR or PP, which the import refuses
Account Ref         up to 8 characters; must exist (blank only for journals JD/JC)
Nominal Code        up to 8 characters; must exist
Department          a whole number 0 to 999
Date                DD/MM/YYYY
Reference           up to 30 characters
Details             up to 60 characters
Net Amount          up to 8 digits and 2 decimal places
Tax Code            T0 to T99
Tax Amount          up to 8 digits and 2 decimal places
Exchange Rate       1 for base-currency transactions; blank takes the account's currency rate
Extra Ref           up to 30 characters
User Name           up to 32 characters
==================  ==========================================================================

:func:`line_errors` checks a line against these rules, so the product never writes a line that
Sage would refuse; the caller fails the order instead. Sage 50 is a Windows program that reads
import files in the Windows-1252 code page, so the file is written in it: a value it cannot
encode is an error too, never a silently changed character.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

COLUMNS = ("Type", "Account Ref", "Nominal Code", "Department", "Date", "Reference", "Details", "Net Amount",
           "Tax Code", "Tax Amount", "Exchange Rate", "Extra Ref", "User Name")
ENCODING = "cp1252"
# The types this product writes: sales invoices now; credit notes and payments on account once refunds and
# settlements land. Sage's import also takes BP, BR, JD, JC, PI, PC ..., which this product has no use for.
WRITTEN_TYPES = frozenset({"SI", "SC", "SA"})
REFUSED_TYPES = {"SR": "Sage's import refuses sales receipts (SR): post a payment on account (SA) and allocate it",
                 "PP": "Sage's import refuses purchase payments (PP): post a payment on account (PA)"}
WIDTH = {"Account Ref": 8, "Nominal Code": 8, "Reference": 30, "Details": 60, "Extra Ref": 30, "User Name": 32}
MAX_AMOUNT = Decimal("99999999.99")  # 8 digits and 2 decimal places
MAX_DEPARTMENT = 999


@dataclass(frozen=True)
class AuditTrailLine:
    """One line of the import file: one split of a transaction, as Sage will post it."""

    type: str
    account_ref: str
    nominal_code: str
    department: int
    date: date
    reference: str
    details: str
    net: Decimal
    tax_code: str
    tax: Decimal
    exchange_rate: Decimal | None = Decimal(1)  # None: blank, Sage takes its rate for the account's currency
    extra_ref: str = ""
    user_name: str = ""

    def fields(self) -> list[str]:
        """The line's values as the file holds them, in :data:`COLUMNS` order."""
        return [self.type, self.account_ref, self.nominal_code, str(self.department),
                self.date.strftime("%d/%m/%Y"), self.reference, self.details, f"{self.net:.2f}", self.tax_code,
                f"{self.tax:.2f}", "" if self.exchange_rate is None else f"{self.exchange_rate.normalize():f}",
                self.extra_ref, self.user_name]


def _tax_code_ok(code: str) -> bool:
    return len(code) >= 2 and code[0] == "T" and code[1:].isdigit() and int(code[1:]) <= 99 and len(code) <= 3


def line_errors(line: AuditTrailLine, *, accounts: set[str], nominal_codes: set[str]) -> list[str]:
    """Every way ``line`` breaks Sage's import rules or this company's data; empty when Sage will take it."""
    errors: list[str] = []
    if line.type in REFUSED_TYPES:
        errors.append(REFUSED_TYPES[line.type])
    elif line.type not in WRITTEN_TYPES:
        errors.append(f"transaction type {line.type!r} is not one this product writes "
                      f"({', '.join(sorted(WRITTEN_TYPES))})")
    values = dict(zip(COLUMNS, line.fields(), strict=True))
    for column, width in WIDTH.items():
        if len(values[column]) > width:
            errors.append(f"{column} {values[column]!r} is longer than Sage's {width} characters")
    if not line.account_ref:
        errors.append("no Account Ref: sales transactions need a customer account")
    elif line.account_ref not in accounts:
        errors.append(f"account {line.account_ref!r} does not exist in Sage's customer list (SALES_LEDGER): "
                      "create it or change ACCOUNT_REFERENCE")
    if not line.nominal_code:
        errors.append("no Nominal Code")
    elif line.nominal_code not in nominal_codes:
        errors.append(f"nominal code {line.nominal_code!r} does not exist in Sage's nominal ledger: create it in "
                      "Sage (Nominal codes) or change the nominal code setting")
    if not 0 <= line.department <= MAX_DEPARTMENT:
        errors.append(f"department {line.department} is outside Sage's 0 to 999")
    if not _tax_code_ok(line.tax_code):
        errors.append(f"tax code {line.tax_code!r} is not one of Sage's T0 to T99")
    for label, amount in (("Net Amount", line.net), ("Tax Amount", line.tax)):
        if amount != amount.quantize(Decimal("0.01")):
            errors.append(f"{label} {amount} has more than 2 decimal places")
        if abs(amount) > MAX_AMOUNT:
            errors.append(f"{label} {amount} is larger than Sage's 8 digits and 2 decimal places")
    if line.exchange_rate is not None and line.exchange_rate <= 0:
        errors.append(f"exchange rate {line.exchange_rate} is not positive")
    for column, value in values.items():
        try:
            value.encode(ENCODING)
        except UnicodeEncodeError:
            errors.append(f"{column} {value!r} has characters Sage's import file (Windows-1252) cannot hold")
    return errors


class AuditTrailWriter:
    """Writes lines to an import file at ``path`` (which must exist, e.g. from ``atomic_output``), one at a time.

    Lines must have passed :func:`line_errors`. ``header_row`` writes the column names first, for
    the wizard's "My file contains headers" choice. :meth:`close` flushes the file to disk, so a
    file that is then moved into the drop folder is whole there.
    """

    def __init__(self, path: Path, *, header_row: bool):
        self.count = 0
        self._handle = path.open("w", encoding=ENCODING, newline="")
        self._writer = csv.writer(self._handle, lineterminator="\r\n")  # Windows line ends, as Sage's own files
        if header_row:
            self._writer.writerow(COLUMNS)

    def write(self, line: AuditTrailLine) -> None:
        self._writer.writerow(line.fields())
        self.count += 1

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()


def read_lines(path: Path) -> list[list[str]]:
    """The rows of an import file as text (the header row included when there is one)."""
    with path.open(encoding=ENCODING, newline="") as handle:
        return list(csv.reader(handle))
