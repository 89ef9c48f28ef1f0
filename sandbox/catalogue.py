"""The products shared by the SP-API sandbox and the sample Sage company.

Prices are Amazon's VAT-inclusive selling prices; the Sage stock record holds the net price to four
decimal places, as a company whose unit decimal places allow it stores one (£12.99 is a net of 10.825, £9.99
a net of 8.325). Stock is in Sage's units, decimals allowed: ``quantity`` in stock and ``allocated``, two of
them picked so that binary doubles put their difference just below a whole number (2.3 - 0.3 is
1.9999999999999998), which the feeds must still send as 2.
``in_sage=False`` marks the one SKU the sample company lacks, so an order for it must fail;
``on_amazon=False`` the one Sage product with no Amazon listing, so a feed message for it fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Product:
    sku: str
    asin: str
    title: str
    price: Decimal  # VAT-inclusive, GBP
    in_sage: bool = True
    quantity: Decimal = Decimal(40)  # Sage's QTY_IN_STOCK
    on_amazon: bool = True
    allocated: Decimal = Decimal(0)  # Sage's QTY_ALLOCATED

    @property
    def free_stock(self) -> int:
        """What Amazon should show: whole units in stock and not allocated, never below zero."""
        return max(0, int(self.quantity - self.allocated))


CATALOGUE: tuple[Product, ...] = (
    Product("MUG-RED-01", "B0EXAMPLE1", "Red ceramic mug 350ml", Decimal("12.00")),
    Product("MUG-BLU-01", "B0EXAMPLE2", "Blue ceramic mug 350ml", Decimal("12.00"), quantity=Decimal(0)),
    Product("TEA-EARLGREY-250", "B0EXAMPLE3", "Earl Grey loose leaf tea 250g", Decimal("7.49")),
    Product("TEAPOT-CAST-1L", "B0EXAMPLE4", "Cast iron teapot 1 litre, matt black", Decimal("34.99")),
    Product("COASTER-SLATE-4", "B0EXAMPLE5", "Slate coasters, set of 4", Decimal("9.99")),
    Product("TOWEL-LINEN-2", "B0EXAMPLE6", "Linen tea towels (pair) – natural", Decimal("12.99")),
    Product("SPOON-BRASS-6", "B0EXAMPLE7", "Brass tea spoons ×6", Decimal("18.50")),
    Product("CADDY-TIN-S", "B0EXAMPLE8", "Tea caddy tin, small", Decimal("6.99")),
    Product("INFUSER-STEEL", "B0EXAMPLE9", "Stainless steel tea infuser", Decimal("4.49"),
            quantity=Decimal("2.3"), allocated=Decimal("0.3")),
    Product("CUP-SAUCER-CHINA", "B0EXAMPL10", "Bone china cup & saucer, Café collection", Decimal("22.00")),
    Product("KETTLE-GOOSENECK-08", "B0EXAMPL11", "Gooseneck kettle 0.8L", Decimal("49.99"),
            quantity=Decimal("3.3"), allocated=Decimal("1.3")),
    Product("GIFTSET-AFTERNOON-TEA", "B0EXAMPL12", "Afternoon tea gift set", Decimal("29.99"), in_sage=False),
    Product("TRAY-OAK-LARGE", "B0EXAMPL13", "Oak serving tray, large", Decimal("39.00"), on_amazon=False),
)

UNKNOWN_TO_SAGE = tuple(p.sku for p in CATALOGUE if not p.in_sage)
NOT_ON_AMAZON = tuple(p.sku for p in CATALOGUE if not p.on_amazon)
BY_SKU = {p.sku: p for p in CATALOGUE}
