"""The sample company's stand-in for Sage 50's File > Import of audit trail transactions.

It applies the Data Import wizard's documented checks to a CSV (Sage 50 Accounts knowledge base,
"Import audit trail transactions": each field's type, size and whether it may be blank), written
here independently of the product's own checks so that it can catch them out. Like the wizard,
it refuses the whole file when any line is wrong, listing every error, and imports nothing.
Otherwise it posts the file as Sage does: consecutive lines with the same type, account, date
and reference make one transaction, an ``AUDIT_HEADER`` row with an ``AUDIT_SPLIT`` row per
line. Like Sage, it does not look for duplicate references: importing a file twice posts it
twice, which is why the product must never export an order twice.

    python -m sandbox.sage_audit_import /path/to/company.db /path/to/file.csv
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

import pyodbc

from sandbox.sample_company import odbc_connection_string

IMPORTABLE = {"BP", "BR", "CP", "CR", "VP", "VR", "JC", "JD", "SI", "SC", "SA", "SP", "PI", "PC", "PA", "PR"}
SALES_TYPES = {"SI", "SC", "SA", "SP"}
NEGATIVE = {"SC", "SA"}  # credits and receipts reduce what the customer owes: Sage signs them negative
SIZES = {"Reference": 30, "Details": 60, "Ex.Ref": 30, "User Name": 32}
FIELDS = ("Type", "Account", "Nominal Code", "Department", "Date", "Reference", "Details", "Net", "T/C", "Tax",
          "Exchange Rate", "Ex.Ref", "User Name")


class ImportRefused(Exception):
    """The file breaks the wizard's rules; ``errors`` names each line and field. Nothing was imported."""

    def __init__(self, errors: list[str]):
        super().__init__(f"{len(errors)} errors, nothing imported:\n" + "\n".join(errors))
        self.errors = errors


@dataclass
class _Line:
    type: str
    account: str
    nominal: str
    department: int
    date: date
    reference: str
    details: str
    net: Decimal
    tax_code: str
    tax: Decimal
    rate: Decimal | None  # None: blank, the account's currency rate
    extra_ref: str
    user_name: str


def _decimal(text: str, label: str, errors: list[str], *, required: bool) -> Decimal:
    if not text.strip():
        if required:
            errors.append(f"{label} can't be blank")
        return Decimal(0)
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        errors.append(f"{label} {text!r} is not a number")
        return Decimal(0)
    _, digits, exponent = value.as_tuple()
    if not value.is_finite() or -exponent > 2 or len(digits) + min(int(exponent), 0) > 8:
        errors.append(f"{label} {text!r} is not 8 digits and 2 decimal places")
    return value


def _check(row: list[str], known: dict[str, set[str]]) -> tuple[_Line | None, list[str]]:
    errors: list[str] = []
    if not 10 <= len(row) <= 15:
        return None, [f"has {len(row)} fields; an audit trail transaction has 10 to 15"]
    values = dict(zip(FIELDS, [*row, *[""] * (len(FIELDS) - len(row))], strict=False))
    kind = values["Type"].strip().upper()
    if kind in {"SR", "PP"}:
        errors.append(f"Type {kind} can't be imported: import a payment on account (SA/PA) and allocate it")
    elif kind not in IMPORTABLE:
        errors.append(f"Type {kind!r} is not a transaction type")
    elif kind not in SALES_TYPES and kind not in {"JC", "JD"}:
        errors.append(f"Type {kind}: this sample company has no supplier or bank ledgers")
    account = values["Account"].strip().upper()
    if not account and kind not in {"JC", "JD"}:
        errors.append("Account can't be blank")
    elif len(account) > 8:
        errors.append(f"Account {account!r} is longer than 8 characters")
    elif account and account not in known["accounts"]:
        errors.append(f"Account {account!r} does not exist")
    nominal = values["Nominal Code"].strip()
    if not nominal:
        errors.append("Nominal Code can't be blank")
    elif nominal not in known["nominals"]:
        errors.append(f"Nominal Code {nominal!r} does not exist")
    department = 0
    if values["Department"].strip():
        if not values["Department"].strip().isdigit() or int(values["Department"]) > 999:
            errors.append(f"Department {values['Department']!r} is not a number between 0 and 999")
        else:
            department = int(values["Department"])
    when = date.today()
    if values["Date"].strip():
        try:
            when = datetime.strptime(values["Date"].strip(), "%d/%m/%Y").date()
        except ValueError:
            errors.append(f"Date {values['Date']!r} is not DD/MM/YYYY")
    for field, size in SIZES.items():
        if len(values[field]) > size:
            errors.append(f"{field} is longer than {size} characters")
    net = _decimal(values["Net"], "Net", errors, required=True)
    tax = _decimal(values["Tax"], "Tax", errors, required=False)
    tax_code = values["T/C"].strip().upper() or "T0"
    if tax_code not in known["tax_codes"]:
        errors.append(f"T/C {tax_code!r} is not a tax code between T0 and T99 that exists")
    rate = _decimal(values["Exchange Rate"], "Exchange Rate", errors, required=False) or None
    if errors:
        return None, errors
    return _Line(kind, account, nominal, department, when, values["Reference"], values["Details"], net, tax_code,
                 tax, rate, values["Ex.Ref"], values["User Name"]), []


def _base(amount: Decimal, rate: Decimal) -> Decimal:
    return (amount / rate).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def read_file(path: Path, known: dict[str, set[str]]) -> list[_Line]:
    """The file's lines, checked; raise :class:`ImportRefused` listing every error."""
    with path.open(encoding="cp1252", newline="") as handle:
        rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    if rows and rows[0] and rows[0][0].strip().lower() == "type":
        rows = rows[1:]  # "My file contains headers"
    lines, errors = [], []
    for number, row in enumerate(rows, 1):
        line, problems = _check(row, known)
        errors.extend(f"line {number}: {problem}" for problem in problems)
        if line is not None:
            lines.append(line)
    if errors:
        raise ImportRefused(errors)
    return lines


def _known(cursor: pyodbc.Cursor) -> dict[str, set[str]]:
    return {
        "accounts": {r[0].upper() for r in cursor.execute("SELECT ACCOUNT_REF FROM SALES_LEDGER").fetchall()},
        "nominals": {r[0] for r in cursor.execute("SELECT ACCOUNT_REF FROM NOMINAL_LEDGER").fetchall()},
        "tax_codes": {r[0] for r in cursor.execute("SELECT TAX_CODE FROM TAX_CODE").fetchall()},
    }


def import_audit_trail(company: Path, path: Path) -> tuple[int, int]:
    """Post the file into the company; return ``(transactions, lines)``. Raises :class:`ImportRefused`."""
    connection = pyodbc.connect(odbc_connection_string(company))
    try:
        cursor = connection.cursor()
        lines = read_file(path, _known(cursor))
        header = int(cursor.execute("SELECT MAX(HEADER_NUMBER) FROM AUDIT_HEADER").fetchone()[0] or 0)
        tran = int(cursor.execute("SELECT MAX(TRAN_NUMBER) FROM AUDIT_SPLIT").fetchone()[0] or 0)
        stamp = datetime.now().replace(microsecond=0)
        groups: list[list[_Line]] = []
        for line in lines:
            key = (line.type, line.account, line.date, line.reference)
            last = groups[-1][0] if groups else None
            if last is not None and (last.type, last.account, last.date, last.reference) == key:
                groups[-1].append(line)
            else:
                groups.append([line])
        currencies = {number: (Decimal(str(rate)), bool(base)) for number, rate, base in
                      cursor.execute("SELECT NUMBER, RATE, BASE_CURRENCY FROM CURRENCY")}
        account_currency = {ref.upper(): number for ref, number in
                            cursor.execute("SELECT ACCOUNT_REF, CURRENCY FROM SALES_LEDGER")}
        for group in groups:
            header += 1
            first = group[0]
            sign = -1 if first.type in NEGATIVE else 1
            # The file's amounts are in the account's currency; Sage keeps them as FOREIGN_* and converts each
            # split to the base currency at the line's exchange rate (units per base unit), to the penny.
            currency = account_currency.get(first.account) or 1
            own_rate, base = currencies[currency]
            rate = first.rate or (Decimal(1) if base else own_rate)
            splits = [(line, sign * line.net, sign * line.tax, _base(sign * line.net, rate),
                       _base(sign * line.tax, rate)) for line in group]
            net, tax = sum(s[1] for s in splits), sum(s[2] for s in splits)
            base_net, base_tax = sum(s[3] for s in splits), sum(s[4] for s in splits)
            cursor.execute(
                "INSERT INTO AUDIT_HEADER (HEADER_NUMBER, TRAN_NUMBER, ITEM_COUNT, TYPE, DATE, ACCOUNT_REF, "
                "SALES_PURCHASE_REF, INV_REF, USER_NAME, DETAILS, DUE_DATE, PAID_FLAG, DELETED_FLAG, NET_AMOUNT, "
                "TAX_AMOUNT, GROSS_AMOUNT, OUTSTANDING, FOREIGN_NET_AMOUNT, FOREIGN_TAX_AMOUNT, FOREIGN_GROSS_AMOUNT, "
                "FOREIGN_OUTSTANDING, CURRENCY, FOREIGN_RATE, DATE_ENTERED, RECORD_CREATE_DATE, RECORD_MODIFY_DATE, "
                "RECORD_DELETED) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'N', 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                "?, 0)",
                (header, tran + 1, len(group), first.type, first.date, first.account, first.account, first.reference,
                 first.user_name, first.details, first.date, float(base_net), float(base_tax),
                 float(base_net + base_tax), float(base_net + base_tax), float(net), float(tax), float(net + tax),
                 float(net + tax), currency, float(rate), stamp.date(), stamp, stamp))
            for split, (line, f_net, f_tax, b_net, b_tax) in enumerate(splits, 1):
                tran += 1
                cursor.execute(
                    "INSERT INTO AUDIT_SPLIT (TRAN_NUMBER, TYPE, DATE, ACCOUNT_REF, NOMINAL_CODE, INV_REF, USER_NAME, "
                    "DETAILS, EXTRA_REF, DEPT_NUMBER, TAX_CODE, PAID_FLAG, DELETED_FLAG, NET_AMOUNT, TAX_AMOUNT, "
                    "GROSS_AMOUNT, OUTSTANDING, FOREIGN_NET_AMOUNT, FOREIGN_TAX_AMOUNT, FOREIGN_GROSS_AMOUNT, "
                    "SPLIT_NUMBER, HEADER_NUMBER, DATE_ENTERED, RECORD_CREATE_DATE, RECORD_MODIFY_DATE, "
                    "RECORD_DELETED) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'N', 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                    "?, 0)",
                    (tran, line.type, line.date, line.account, line.nominal, line.reference, line.user_name,
                     line.details, line.extra_ref, line.department, line.tax_code, float(b_net), float(b_tax),
                     float(b_net + b_tax), float(b_net + b_tax), float(f_net), float(f_tax), float(f_net + f_tax),
                     split, header, stamp.date(), stamp, stamp))
        connection.commit()
        return len(groups), len(lines)
    finally:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("company", type=Path)
    parser.add_argument("file", type=Path)
    args = parser.parse_args()
    try:
        transactions, lines = import_audit_trail(args.company.resolve(), args.file.resolve())
    except ImportRefused as exc:
        sys.exit(f"Sage import refused {args.file.name}: {exc}")
    print(f"Imported {args.file.name}: {transactions} transactions, {lines} lines")


if __name__ == "__main__":
    main()
