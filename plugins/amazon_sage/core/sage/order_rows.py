"""Turn a Zynk :class:`SalesOrder` into Sage 50 SALES_ORDER and SOP_ITEM rows, or say why not.

All money is Decimal. Line net and tax come from the mapping's ``TotalNet``/``TotalTax``
when present (the mapping split VAT from the buyer's VAT-inclusive price); otherwise they
are computed from unit price, quantity and Sage's rate for the tax code. Every problem with
an order is collected, so its fail record lists them all at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from amazon_sage.core.money import ZERO, pennies, vat_on_net
from amazon_sage.core.sage import address as sage_address
from amazon_sage.core.sage.currencies import Currency, base_currency, to_base
from amazon_sage.core.sage.order_reader import OrderLine, SalesOrder
from amazon_sage.core.sage.tax_codes import tax_code_name

UK = ZoneInfo("Europe/London")
SPECIAL_PRODUCT_CODE = "S1"
# Sage 50 column widths (Sage 50 Accounts' ODBC data dictionary: SALES_ORDER and SOP_ITEM).
WIDTH = {"ACCOUNT_REF": 8, "CUST_ORDER_NUMBER": 60, "TAKEN_BY": 60, "NOTES": 60, "DESCRIPTION": 60,
         "COMMENT": 60, "STOCK_CODE": 30, "NOMINAL_CODE": 8, "PAYMENT_REF": 30, "BANK_REF": 8, "UNIT_OF_SALE": 8}


@dataclass(frozen=True)
class StockItem:
    code: str
    description: str
    tax_code_id: int | None
    nominal_code: str
    unit_of_sale: str


@dataclass(frozen=True)
class CompanyFacts:
    """What an import needs to know about the Sage company, read once per run."""

    stock: dict[str, StockItem]
    tax_rates: dict[int, Decimal]
    accounts: set[str]
    currencies: dict[str, Currency] = field(default_factory=dict)  # by code; empty: all in the base currency
    account_currencies: dict[str, int] = field(default_factory=dict)  # SALES_LEDGER.CURRENCY by account


@dataclass
class SageOrderRows:
    """An order's Sage rows; ``gross`` is what the buyer paid, in the order's currency (``currency``)."""

    header: dict[str, Any]
    items: list[dict[str, Any]]
    gross: Decimal
    warnings: list[str] = field(default_factory=list)
    currency: str = "GBP"


class OrderRejected(Exception):
    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


def _cut(text: str, width: int) -> str:
    return sage_address.fit(text, width)


def compact(lines: list[str]) -> list[str]:
    """Sage's compact address: the same lines with blank ones removed, padded back to five."""
    kept = [line for line in lines if line]
    return kept + [""] * (len(lines) - len(kept))


def order_date(order: SalesOrder) -> date:
    """The order's date as a UK seller sees it (Amazon's times are UTC)."""
    when = order.order_date or datetime.now(UK)
    return (when.astimezone(UK) if when.tzinfo else when).date()


class _LineBuilder:
    def __init__(self, facts: CompanyFacts, unknown_sku_action: str, errors: list[str]):
        self.facts, self.unknown_sku_action, self.errors = facts, unknown_sku_action, errors

    def rate(self, code_id: int, where: str) -> Decimal:
        if code_id not in self.facts.tax_rates:
            self.errors.append(f"{where}: tax code {tax_code_name(code_id)} does not exist in Sage's TAX_CODE table")
            return ZERO
        return self.facts.tax_rates[code_id]

    def amounts(self, line: OrderLine, rate: Decimal, where: str) -> tuple[Decimal, Decimal, Decimal]:
        """(discount, net, tax) of a line, all to the penny."""
        if line.tax_rate is not None and line.total_tax is not None and line.tax_rate != rate:
            self.errors.append(f"{where}: the mapping split VAT at {line.tax_rate}% but Sage's rate for that tax "
                               f"code is {rate}%; set the mapping's TaxRate or TaxCode to agree")
        if line.total_net is not None:
            net = pennies(line.total_net)
        elif line.unit_price is None:
            self.errors.append(f"{where}: no UnitPrice or TotalNet, so the line has no price")
            return ZERO, ZERO, ZERO
        else:
            net = pennies(line.quantity * (line.unit_price - line.unit_discount))
        tax = pennies(line.total_tax) if line.total_tax is not None else vat_on_net(net, rate)
        return pennies(line.quantity * line.unit_discount), net, tax

    def item(self, line: OrderLine, number: int) -> dict[str, Any]:
        where = f"Item {number} (Sku {line.sku or '?'})"
        stock = self.facts.stock.get(line.sku)
        code = line.sku
        if stock is None:
            if self.unknown_sku_action == "special":
                code = SPECIAL_PRODUCT_CODE
            else:
                self.errors.append(f"{where}: product code {line.sku!r} is not in Sage's stock list. Create it in "
                                   "Sage (Products and Services) or correct the Amazon SKU, then rerun the order")
        code_id = line.tax_code if line.tax_code is not None else (stock.tax_code_id if stock else None)
        if code_id is None:
            self.errors.append(f"{where}: no tax code on the line or the product")
            code_id = 0
        rate = self.rate(code_id, where)
        discount, net, tax = self.amounts(line, rate, where)
        unit_price = pennies(line.unit_price) if line.unit_price is not None else ZERO
        return {
            "ITEM_NUMBER": number,
            "STOCK_CODE": code,
            "DESCRIPTION": _cut(line.name or (stock.description if stock else ""), WIDTH["DESCRIPTION"]),
            "COMMENT_1": _cut(line.description, WIDTH["COMMENT"]),
            "COMMENT_2": _cut(line.comments, WIDTH["COMMENT"]),
            "UNIT_OF_SALE": _cut(stock.unit_of_sale if stock else "", WIDTH["UNIT_OF_SALE"]),
            "SERVICE_FLAG": 0,
            "QTY_ORDER": float(line.quantity),
            "UNIT_PRICE": unit_price,
            "DISCOUNT_AMOUNT": discount,
            "DISCOUNT_RATE": ZERO,
            "FULL_NET_AMOUNT": net + discount,
            "NET_AMOUNT": net,
            "TAX_AMOUNT": tax,
            "GROSS_AMOUNT": net + tax,
            "TAX_CODE_ID": code_id,
            "TAX_CODE": tax_code_name(code_id),
            "TAX_RATE": rate,
            "NOMINAL_CODE": _cut(line.nominal_code or (stock.nominal_code if stock else ""), WIDTH["NOMINAL_CODE"]),
        }


def _tax_analysis(parts: list[tuple[Decimal, Decimal, Decimal]]) -> dict[str, Any]:
    """Sage's five (rate, net, tax) analysis slots, highest rate first."""
    by_rate: dict[Decimal, list[Decimal]] = {}
    for rate, net, tax in parts:
        slot = by_rate.setdefault(rate, [ZERO, ZERO])
        slot[0] += net
        slot[1] += tax
    columns: dict[str, Any] = {}
    for index, rate in enumerate(sorted(by_rate, reverse=True)[:5], 1):
        columns[f"TAX_RATE_{index}"] = rate
        columns[f"NET_AMOUNT_{index}"], columns[f"TAX_AMOUNT_{index}"] = by_rate[rate]
    return columns


def order_currency(order: SalesOrder, facts: CompanyFacts, account: str, errors: list[str]) -> Currency:
    """The order's currency as Sage knows it; problems (unknown currency, an account in another) go to ``errors``."""
    base = base_currency(facts.currencies) or Currency(1, "GBP", Decimal(1), True)
    code = (order.currency or base.code).strip().upper()
    currency = facts.currencies.get(code) or (base if code == base.code else None)
    if currency is None:
        errors.append(f"the order is in {code}, which is not in Sage's currency table: add {code} in Sage "
                      "(Settings > Currencies) with its exchange rate, then rerun the order")
        return base
    if not currency.base and currency.rate <= 0:
        errors.append(f"Sage's exchange rate for {code} is {currency.rate}: set it in Sage (Settings > Currencies)")
    held = facts.account_currencies.get(account)
    if account in facts.accounts and held is not None and held != currency.number:
        account_code = next((c.code for c in facts.currencies.values() if c.number == held), f"currency {held}")
        errors.append(f"account {account!r} is in {account_code} but the order is in {code}: a Sage account has one "
                      f"currency, so send {code} orders to an account in {code} (MARKETPLACE_ACCOUNTS)")
    return currency


FOREIGN_ITEM_COLUMNS = {"UNIT_PRICE": "FOREIGN_UNIT_PRICE", "DISCOUNT_AMOUNT": "FOREIGN_DISCOUNT_AMOUNT",
                        "FULL_NET_AMOUNT": "FOREIGN_FULL_NET_AMOUNT", "NET_AMOUNT": "FOREIGN_NET_AMOUNT",
                        "TAX_AMOUNT": "FOREIGN_TAX_AMOUNT", "GROSS_AMOUNT": "FOREIGN_GROSS_AMOUNT"}


def _item_in_base(item: dict[str, Any], rate: Decimal) -> None:
    """Keep the line's amounts (in the order's currency) in its FOREIGN_* columns and put base amounts in the rest.

    Net and tax are each converted to the penny and gross is their sum, so net + tax = gross in both currencies;
    the discount is what separates the converted full net from the converted net.
    """
    for column, foreign in FOREIGN_ITEM_COLUMNS.items():
        item[foreign] = item[column]
    item["UNIT_PRICE"] = to_base(item["UNIT_PRICE"], rate)
    item["NET_AMOUNT"] = to_base(item["NET_AMOUNT"], rate)
    item["TAX_AMOUNT"] = to_base(item["TAX_AMOUNT"], rate)
    item["FULL_NET_AMOUNT"] = to_base(item["FULL_NET_AMOUNT"], rate)
    item["DISCOUNT_AMOUNT"] = item["FULL_NET_AMOUNT"] - item["NET_AMOUNT"]
    item["GROSS_AMOUNT"] = item["NET_AMOUNT"] + item["TAX_AMOUNT"]


def build_rows(order: SalesOrder, facts: CompanyFacts, *, unknown_sku_action: str = "fail") -> SageOrderRows:
    """Return the Sage rows for ``order``; raise :class:`OrderRejected` listing every problem."""
    errors: list[str] = []
    warnings: list[str] = []
    account = order.account_reference.upper()
    if not account:
        errors.append("no AccountReference: set the mapping's AccountReference parameter")
    elif len(account) > WIDTH["ACCOUNT_REF"]:
        errors.append(f"account reference {account!r} is longer than Sage's 8 characters")
    elif account not in facts.accounts:
        errors.append(f"account {account!r} does not exist in Sage's SALES_LEDGER: "
                      "create it or change ACCOUNT_REFERENCE")
    if not order.lines:
        errors.append("the order has no item lines")
    if len(order.customer_order_number) > WIDTH["CUST_ORDER_NUMBER"]:
        errors.append("the customer order number is longer than Sage's 60 characters")
    currency = order_currency(order, facts, account, errors)
    exchange_rate = Decimal(1) if currency.base else currency.rate
    builder = _LineBuilder(facts, unknown_sku_action, errors)
    items = [builder.item(line, number) for number, line in enumerate(order.lines, 1)]

    carriage = {"net": ZERO, "tax": ZERO, "code_id": 1, "rate": facts.tax_rates.get(1, ZERO), "nominal": ""}
    if order.carriage is not None:
        code_id = order.carriage.tax_code if order.carriage.tax_code is not None else 1
        rate = builder.rate(code_id, "Carriage")
        _, net, tax = builder.amounts(order.carriage, rate, "Carriage")
        carriage = {"net": net, "tax": tax, "code_id": code_id, "rate": rate, "nominal": order.carriage.nominal_code}

    foreign_net = sum((item["NET_AMOUNT"] for item in items), ZERO)
    foreign_tax = sum((item["TAX_AMOUNT"] for item in items), ZERO)
    foreign_carriage = {"net": carriage["net"], "tax": carriage["tax"]}
    foreign_gross = foreign_net + foreign_tax + carriage["net"] + carriage["tax"]
    if order.payment_amount is not None and foreign_gross != pennies(order.payment_amount):
        errors.append(f"the order's gross in Sage would be {foreign_gross} but the buyer paid "
                      f"{pennies(order.payment_amount)}; check the mapping's VAT settings")
    if errors:
        raise OrderRejected(errors)
    for item in items:
        _item_in_base(item, exchange_rate)
    carriage["net"] = to_base(carriage["net"], exchange_rate)
    carriage["tax"] = to_base(carriage["tax"], exchange_rate)
    items_net = sum((item["NET_AMOUNT"] for item in items), ZERO)
    items_tax = sum((item["TAX_AMOUNT"] for item in items), ZERO)
    gross = items_net + items_tax + carriage["net"] + carriage["tax"]
    foreign_carriage_gross = foreign_carriage["net"] + foreign_carriage["tax"]

    invoice = sage_address.layout(order.invoice)
    delivery = sage_address.layout(order.delivery)
    for label, laid_out in (("invoice", invoice), ("delivery", delivery)):
        if laid_out.cut:
            warnings.append(f"{label} {', '.join(laid_out.cut)} cut to Sage's 60 characters")
    header: dict[str, Any] = {
        "ORDER_TYPE_CODE": 0,
        "ORDER_OR_QUOTE": "Sales Order",
        "ORDER_DATE": order_date(order),
        "ACCOUNT_REF": account,
        "NAME": invoice.name,
        **{f"ADDRESS_{n}": text for n, text in enumerate(invoice.lines, 1)},
        **{f"C_ADDRESS_{n}": text for n, text in enumerate(compact(invoice.lines), 1)},
        "DEL_NAME": delivery.name,
        **{f"DEL_ADDRESS_{n}": text for n, text in enumerate(delivery.lines, 1)},
        "CONTACT_NAME": invoice.contact_name,
        "CUST_TEL_NUMBER": invoice.telephone,
        "TAKEN_BY": _cut(order.taken_by, WIDTH["TAKEN_BY"]),
        "CUST_ORDER_NUMBER": order.customer_order_number,
        **{f"NOTES_{n}": _cut(text, WIDTH["NOTES"]) for n, text in enumerate(order.notes, 1)},
        "ITEMS_NET": items_net, "ITEMS_TAX": items_tax, "ITEMS_GROSS": items_net + items_tax,
        "FOREIGN_ITEMS_NET": foreign_net, "FOREIGN_ITEMS_TAX": foreign_tax,
        "FOREIGN_ITEMS_GROSS": foreign_net + foreign_tax,
        **_tax_analysis([(item["TAX_RATE"], item["NET_AMOUNT"], item["TAX_AMOUNT"]) for item in items]
                        + ([(carriage["rate"], carriage["net"], carriage["tax"])] if order.carriage else [])),
        "CARR_NET": carriage["net"], "CARR_TAX": carriage["tax"], "CARR_GROSS": carriage["net"] + carriage["tax"],
        "FOREIGN_CARR_NET": foreign_carriage["net"], "FOREIGN_CARR_TAX": foreign_carriage["tax"],
        "FOREIGN_CARR_GROSS": foreign_carriage_gross,
        "CARR_NOM_CODE": _cut(carriage["nominal"], WIDTH["NOMINAL_CODE"]),
        "CARR_TAX_CODE": tax_code_name(carriage["code_id"]),
        "INVOICE_NET": items_net + carriage["net"], "INVOICE_TAX": items_tax + carriage["tax"], "INVOICE_GROSS": gross,
        "FOREIGN_INVOICE_NET": foreign_net + foreign_carriage["net"],
        "FOREIGN_INVOICE_TAX": foreign_tax + foreign_carriage["tax"],
        "FOREIGN_INVOICE_GROSS": foreign_gross,
        "GLOBAL_TAX_CODE": items[0]["TAX_CODE"],
        "CURRENCY": currency.number,
        "FOREIGN_RATE": exchange_rate,
        "PAYMENT_REF": _cut(order.payment_ref, WIDTH["PAYMENT_REF"]),
        "BANK_REF": _cut(order.bank_account, WIDTH["BANK_REF"]),
        "AMOUNT_PREPAID": gross if order.payment_amount is not None else ZERO,
        "FOREIGN_AMOUNT_PREPAID": foreign_gross if order.payment_amount is not None else ZERO,
        "DESPATCH_STATUS": "Not Despatched",
        "ALLOCATED_STATUS": "Not Allocated",
    }
    return SageOrderRows(header=header, items=items, gross=foreign_gross, warnings=warnings, currency=currency.code)


def column_values(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with each value as its Sage column takes it.

    Sage money columns are DOUBLE: Decimals go in as the nearest double, as Sage itself stores them.
    """
    return {column: float(value) if type(value) is Decimal else value for column, value in row.items()}
