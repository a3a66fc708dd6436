"""Instruments (US stocks and ETFs) and their quotes.

Every symbol that has a quote is a known instrument: a USD stock routed through SMART with a
primary listing exchange and a conId that is the same for that symbol in every run.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

# Exchanges a stock order or contract request may name besides its primary exchange.
ROUTING_EXCHANGES = ("SMART", "ARCA", "NYSE", "NASDAQ", "ISLAND", "BATS", "IEX", "AMEX")
CURRENCY = "USD"
MIN_TICK = 0.01
DEFAULT_BID_SIZE = 500
DEFAULT_ASK_SIZE = 400
DEFAULT_LAST_SIZE = 100


@dataclass(frozen=True)
class Instrument:
    symbol: str
    con_id: int
    primary_exchange: str
    long_name: str
    stock_type: str  # IB's stockType: "ETF", "COMMON", ...


@dataclass(frozen=True)
class Quote:
    """Top of book. A missing (None) price means no market on that side."""

    bid: float | None
    ask: float | None
    last: float | None
    bid_size: int = DEFAULT_BID_SIZE
    ask_size: int = DEFAULT_ASK_SIZE
    last_size: int = DEFAULT_LAST_SIZE

    @property
    def mid(self) -> float | None:
        if self.bid and self.ask:
            return (self.bid + self.ask) / 2
        return None

    @property
    def mark(self) -> float:
        """The price a position is valued at: last, else mid, else whichever side exists."""
        return self.last or self.mid or self.bid or self.ask or 0.0


def con_id_for(symbol: str) -> int:
    """A stable, positive contract id derived from the symbol (the same in every run)."""
    return 100_000 + zlib.crc32(symbol.encode()) % 900_000_000


@dataclass(frozen=True)
class KnownListing:
    primary_exchange: str
    long_name: str
    stock_type: str
    bid: float
    ask: float
    last: float


# The instruments a simulator starts with when its config names none (demo out of the box).
DEFAULT_LISTINGS: dict[str, KnownListing] = {
    "SPY": KnownListing("ARCA", "SPDR S&P 500 ETF TRUST", "ETF", 560.10, 560.12, 560.11),
    "QQQ": KnownListing("NASDAQ", "INVESCO QQQ TRUST SERIES 1", "ETF", 480.25, 480.28, 480.26),
    "VTI": KnownListing("ARCA", "VANGUARD TOTAL STOCK MKT ETF", "ETF", 275.40, 275.43, 275.41),
    "IWM": KnownListing("ARCA", "ISHARES RUSSELL 2000 ETF", "ETF", 215.60, 215.62, 215.61),
    "EFA": KnownListing("ARCA", "ISHARES MSCI EAFE ETF", "ETF", 80.15, 80.16, 80.15),
    "EEM": KnownListing("ARCA", "ISHARES MSCI EMERGING MARKET", "ETF", 43.20, 43.21, 43.20),
    "TLT": KnownListing("NASDAQ", "ISHARES 20+ YEAR TREASURY BD", "ETF", 92.30, 92.31, 92.30),
    "IEF": KnownListing("NASDAQ", "ISHARES 7-10 YEAR TREASURY BD", "ETF", 95.70, 95.71, 95.70),
    "SHY": KnownListing("NASDAQ", "ISHARES 1-3 YEAR TREASURY BD", "ETF", 82.10, 82.11, 82.10),
    "BND": KnownListing("NASDAQ", "VANGUARD TOTAL BOND MARKET", "ETF", 73.05, 73.06, 73.05),
    "AGG": KnownListing("ARCA", "ISHARES CORE U.S. AGGREGATE", "ETF", 99.40, 99.41, 99.40),
    "LQD": KnownListing("ARCA", "ISHARES IBOXX INV GR CORP BD", "ETF", 109.80, 109.82, 109.81),
    "GLD": KnownListing("ARCA", "SPDR GOLD SHARES", "ETF", 235.50, 235.53, 235.52),
    "DBC": KnownListing("ARCA", "INVESCO DB COMMODITY INDEX TR", "ETF", 22.45, 22.46, 22.45),
    "VNQ": KnownListing("ARCA", "VANGUARD REAL ESTATE ETF", "ETF", 88.90, 88.92, 88.91),
    "BIL": KnownListing("ARCA", "SPDR BLOOMBERG 1-3 MONTH T-B", "ETF", 91.55, 91.56, 91.55),
}


def make_instrument(
    symbol: str,
    primary_exchange: str | None = None,
    long_name: str | None = None,
    stock_type: str | None = None,
) -> Instrument:
    """An instrument for `symbol`, filling what is not given from the known listings."""
    known = DEFAULT_LISTINGS.get(symbol)
    return Instrument(
        symbol=symbol,
        con_id=con_id_for(symbol),
        primary_exchange=primary_exchange or (known.primary_exchange if known else "NYSE"),
        long_name=long_name or (known.long_name if known else symbol),
        stock_type=stock_type or (known.stock_type if known else "COMMON"),
    )
