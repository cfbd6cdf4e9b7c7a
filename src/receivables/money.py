"""Money at the edges, integer minor units in bulk.

    >>> m = Money.parse("1234,5", "EUR")
    >>> m, m.minor
    (Money('1234.50', 'EUR'), 123450)
    >>> Money.from_minor(123450, "EUR").format()
    '1234.50'

Bulk data (DataFrames, warehouse) holds amounts as int64 minor units beside an ISO 4217 currency
column. A single value that crosses an edge (parsed from a file, rendered, used in a legal
computation) is a `Money`: a `Decimal` quantized to the currency's exponent with one rounding
mode, `ROUND_HALF_UP` (the commercial rounding French and EU invoicing rules use).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

ROUNDING = ROUND_HALF_UP

# ISO 4217 minor-unit exponents that differ from 2; every other code uses 2.
_EXPONENTS = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
    "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}

# Active ISO 4217 codes, for validating currency columns.
ISO_4217 = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP
    BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP
    GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR
    KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK
    MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR
    SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS
    UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG""".split()
)


def exponent(currency: str) -> int:
    """Number of decimals of a currency's minor unit (2 unless ISO 4217 says otherwise)."""
    return _EXPONENTS.get(currency, 2)


class MoneyError(ValueError):
    """A value that cannot be read as an amount."""


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if self.currency not in ISO_4217:
            raise MoneyError(f"unknown currency code {self.currency!r}")
        quantum = Decimal(1).scaleb(-exponent(self.currency))
        object.__setattr__(self, "amount", Decimal(self.amount).quantize(quantum, rounding=ROUNDING))

    # -- constructors -------------------------------------------------------------------------
    @classmethod
    def parse(cls, text: str, currency: str) -> "Money":
        """Read '1 234,50', '1234.50', '-12', '0000000069,60' (decimal comma or point)."""
        cleaned = text.strip().replace("\u00a0", "").replace(" ", "").replace(",", ".")
        try:
            value = Decimal(cleaned)
        except InvalidOperation:
            raise MoneyError(f"not an amount: {text!r}") from None
        if not value.is_finite():
            raise MoneyError(f"not an amount: {text!r}")
        return cls(value, currency)

    @classmethod
    def from_minor(cls, minor: int, currency: str) -> "Money":
        return cls(Decimal(int(minor)).scaleb(-exponent(currency)), currency)

    # -- views --------------------------------------------------------------------------------
    @property
    def minor(self) -> int:
        return int(self.amount.scaleb(exponent(self.currency)))

    def format(self) -> str:
        """The contract's decimal string: '.' separator, the currency's decimals, no grouping."""
        return f"{self.amount:.{exponent(self.currency)}f}"

    def __add__(self, other: "Money") -> "Money":
        if not isinstance(other, Money) or other.currency != self.currency:
            raise MoneyError(f"cannot add {other!r} to {self!r}")
        return Money(self.amount + other.amount, self.currency)

    def __neg__(self) -> "Money":
        return Money(-self.amount, self.currency)

    def __repr__(self) -> str:
        return f"Money({self.format()!r}, {self.currency!r})"


def format_minor(minor: int, currency: str) -> str:
    """Minor units to the contract's decimal string, without going through float."""
    return Money.from_minor(minor, currency).format()
