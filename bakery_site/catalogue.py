"""The bakery's catalogue: what it sells, at what price, and the currencies a visitor may see the
prices in. One list for the homepage and the price lookup (use case 2)."""

from __future__ import annotations

from decimal import Decimal

# What each loaf costs in euros, the shop's own currency; the homepage lists them in this order.
PRICES_EUR = {
    "Country sourdough": Decimal("6.40"),
    "Seeded rye": Decimal("5.90"),
    "Olive fougasse": Decimal("4.80"),
    "Brioche": Decimal("7.20"),
    "Baguette tradition": Decimal("1.50"),
}
LOAVES = list(PRICES_EUR)
CURRENCIES = {
    "USD": "US dollar",
    "GBP": "Pound sterling",
    "CHF": "Swiss franc",
    "JPY": "Japanese yen",
    "SEK": "Swedish krona",
    "DKK": "Danish krone",
    "PLN": "Polish zloty",
    "CAD": "Canadian dollar",
}
