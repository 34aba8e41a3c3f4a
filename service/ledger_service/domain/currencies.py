"""ISO 4217 currencies and the exact conversion between decimal amounts and minor units.

Amounts are stored and summed as integers of the currency's minor unit, so no arithmetic on money
ever rounds; a decimal that does not fit the minor unit is refused, never rounded.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from .errors import FaultCode, LedgerError, Location

# Largest magnitude of a single amount or balance in minor units: it must fit a signed 64-bit
# column with room left for sums of many such amounts.
MAX_MINOR_UNITS = 10**17

_ZERO_DECIMALS = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE_DECIMALS = "BHD IQD JOD KWD LYD OMR TND"
_FOUR_DECIMALS = "CLF UYW"
_TWO_DECIMALS = (
    "AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN BZD "
    "CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL "
    "GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR "
    "LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD "
    "PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC "
    "SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG"
)


@dataclass(frozen=True)
class Currency:
    code: str
    minor_units: int

    def to_minor(self, amount: Decimal, location: Location) -> int:
        """The amount in minor units; InvalidAmount if it is not positive or needs finer precision."""
        try:
            minor = amount.scaleb(self.minor_units)
            exact = minor == minor.to_integral_value()
        except (InvalidOperation, AttributeError):
            exact = False
        if not exact or not amount.is_finite():
            raise LedgerError(
                FaultCode.InvalidAmount,
                f"{amount} has more decimal places than {self.code} allows ({self.minor_units})",
                location,
            )
        if minor <= 0:
            raise LedgerError(FaultCode.InvalidAmount, f"amount must be greater than zero, got {amount}", location)
        if minor >= MAX_MINOR_UNITS:
            raise LedgerError(FaultCode.InvalidAmount, f"{amount} {self.code} exceeds the largest amount", location)
        return int(minor)

    def to_decimal(self, minor: int) -> Decimal:
        """Minor units as a decimal with exactly the currency's number of places (1000 -> 10.00)."""
        return Decimal(minor).scaleb(-self.minor_units)


def _table() -> dict[str, Currency]:
    groups = ((_ZERO_DECIMALS, 0), (_TWO_DECIMALS, 2), (_THREE_DECIMALS, 3), (_FOUR_DECIMALS, 4))
    return {code: Currency(code, units) for codes, units in groups for code in codes.split()}


CURRENCIES = _table()


def currency(code: str, location: Location = ("currency",)) -> Currency:
    try:
        return CURRENCIES[code]
    except KeyError:
        raise LedgerError(FaultCode.UnknownCurrency, f"{code!r} is not an ISO 4217 currency code", location) from None
