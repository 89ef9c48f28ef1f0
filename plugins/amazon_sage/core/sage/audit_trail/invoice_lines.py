"""One Amazon order as one Sage sales invoice (SI) of the audit-trail import, or the reasons it cannot be.

The amounts are the sales-order route's own (:func:`amazon_sage.core.sage.order_rows.build_rows`):
each item line's net after its promotions and its VAT, split from what the buyer paid exactly as
for a sales order, and carriage after shipping promotions. They are summed per nominal code and
tax code, items and carriage alike, so the invoice has one split per nominal and tax code, and
its net plus tax is what the buyer paid, to the penny. Promotions are netted into the lines they
reduce (Sage's sales orders hold them the same way), so no split is negative.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from amazon_sage.core.money import ZERO
from amazon_sage.core.sage.address import fit
from amazon_sage.core.sage.audit_trail.csv_format import ENCODING, WIDTH, AuditTrailLine, line_errors
from amazon_sage.core.sage.order_reader import SalesOrder
from amazon_sage.core.sage.order_rows import SageOrderRows

SALES_INVOICE = "SI"


@dataclass(frozen=True)
class InvoiceSettings:
    """What the seller sets for the invoices: department, user name, and the company's own lists."""

    department: int
    user_name: str
    accounts: set[str]
    nominal_codes: set[str]


@dataclass
class Invoice:
    """An order's invoice lines, or why it has none: ``errors`` fail the order, ``nothing_to_post`` skips it."""

    reference: str
    lines: list[AuditTrailLine]
    gross: Decimal
    errors: list[str]

    @property
    def nothing_to_post(self) -> bool:
        return not self.errors and not self.lines


def _details(skus: list[tuple[str, Decimal]], *, carriage: bool) -> str:
    """``Amazon 2 x MUG-RED, 1 x TEAPOT, carriage``, or ``..., +3 more`` when all would not fit in 60 characters."""
    parts = [f"{quantity.normalize():f} x {sku}" for sku, quantity in skus] + (["carriage"] if carriage else [])
    text = "Amazon " + ", ".join(parts)
    for shown in range(len(parts) - 1, 0, -1):
        if len(text) <= WIDTH["Details"]:
            break
        text = "Amazon " + ", ".join(parts[:shown]) + f", +{len(parts) - shown} more"
    text = fit(text, WIDTH["Details"])
    # Our own description, so a SKU character the import file cannot hold becomes "?" rather than failing the order.
    return text.encode(ENCODING, errors="replace").decode(ENCODING)


def invoice_for(order: SalesOrder, rows: SageOrderRows, settings: InvoiceSettings) -> Invoice:
    """The SI lines for ``order`` from its sales-order ``rows``; each line is checked against Sage's rules."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}

    def add(nominal: str, tax_code: str, net: Decimal, tax: Decimal, sku: str | None, quantity: Decimal) -> None:
        group = groups.setdefault((nominal, tax_code), {"net": ZERO, "tax": ZERO, "skus": [], "carriage": False})
        group["net"] += net
        group["tax"] += tax
        if sku is None:
            group["carriage"] = True
        else:
            group["skus"].append((sku, quantity))

    # In the order's currency: a foreign-currency account's transactions are imported in its currency. Their
    # exchange rate is left blank, so Sage converts at its own rate for the currency (the rate the sales-order
    # route converts at), and no rate needs to fit the import's 2 decimal places.
    for line, item in zip(order.lines, rows.items, strict=True):
        add(item["NOMINAL_CODE"], item["TAX_CODE"], item["FOREIGN_NET_AMOUNT"], item["FOREIGN_TAX_AMOUNT"], line.sku,
            line.quantity)
    header = rows.header
    if header["FOREIGN_CARR_NET"] or header["FOREIGN_CARR_TAX"]:
        add(header["CARR_NOM_CODE"], header["CARR_TAX_CODE"], header["FOREIGN_CARR_NET"], header["FOREIGN_CARR_TAX"],
            None, ZERO)

    reference = order.customer_order_number
    lines = [AuditTrailLine(type=SALES_INVOICE, account_ref=header["ACCOUNT_REF"], nominal_code=nominal,
                            department=settings.department, date=header["ORDER_DATE"], reference=reference,
                            details=_details(group["skus"], carriage=group["carriage"]), net=group["net"],
                            tax_code=tax_code, tax=group["tax"],
                            exchange_rate=Decimal(1) if header["FOREIGN_RATE"] == 1 else None,
                            user_name=settings.user_name)
             for (nominal, tax_code), group in groups.items() if group["net"] or group["tax"]]
    errors: list[str] = []
    for line in lines:
        if line.net < 0 or line.tax < 0:
            errors.append(f"nominal {line.nominal_code} / {line.tax_code} would be negative ({line.net} net, "
                          f"{line.tax} VAT): a sales invoice cannot take it; post this order by hand")
        for error in line_errors(line, accounts=settings.accounts, nominal_codes=settings.nominal_codes):
            if error not in errors:  # a rule broken by every line (the account, say) is said once
                errors.append(error)
    return Invoice(reference, lines if not errors else [], rows.gross, errors)
