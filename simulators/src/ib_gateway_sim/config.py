"""What the simulator starts with: `--config FILE` (JSON), or the defaults.

```json
{
  "accounts": {"DU1234567": {"cash": 100000, "positions": {"SPY": 10}}},
  "quotes": {"SPY": {"bid": 560.10, "ask": 560.12, "last": 560.11, "exchange": "ARCA"}},
  "clock": {"now": "2024-07-03T15:30:00-04:00", "running": false}
}
```

A key left out takes its default: `accounts` one paper account DU1234567 with $100,000 cash,
`quotes` a set of common ETFs (SPY, QQQ, TLT, GLD, IEF, VTI, BND, ...), `clock` real time. An
empty `accounts` or `quotes` object means none. The request models of the control API live here
too, because a config file and a control request describe the same things.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from ib_gateway_sim.gateway import Baseline
from ib_gateway_sim.instruments import (
    DEFAULT_ASK_SIZE,
    DEFAULT_BID_SIZE,
    DEFAULT_LAST_SIZE,
    DEFAULT_LISTINGS,
    Instrument,
    Quote,
    make_instrument,
)

DEFAULT_ACCOUNT_ID = "DU1234567"
DEFAULT_ACCOUNT_CASH = 100_000.0

_SYMBOL = re.compile(r"^[A-Z][A-Z0-9.]{0,11}$")
_ACCOUNT_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def normalize_symbol(value: str) -> str:
    symbol = value.strip().upper()
    if not _SYMBOL.match(symbol):
        raise ValueError(
            f"symbol {value!r} is not a stock symbol (a letter, then up to 11 letters, digits "
            "or dots)"
        )
    return symbol


def check_account_id(value: str) -> str:
    if not _ACCOUNT_ID.match(value):
        raise ValueError(
            f"account id {value!r} must be 1 to 32 letters, digits, '_' or '-' (e.g. DU1234567)"
        )
    return value


Symbol = Annotated[str, AfterValidator(normalize_symbol)]
AccountId = Annotated[str, AfterValidator(check_account_id)]
Price = Annotated[float | None, Field(ge=0, allow_inf_nan=False)]
Shares = Annotated[int, Field(strict=True, ge=0)]


class QuoteModel(BaseModel):
    """A quote; a null (or 0) price means no market on that side."""

    model_config = ConfigDict(extra="forbid")

    bid: Price
    ask: Price
    last: Price
    bid_size: int = Field(DEFAULT_BID_SIZE, gt=0)
    ask_size: int = Field(DEFAULT_ASK_SIZE, gt=0)
    last_size: int = Field(DEFAULT_LAST_SIZE, gt=0)
    exchange: str | None = Field(None, description="primary listing exchange, e.g. ARCA")
    name: str | None = Field(None, description="long name in contract details")
    stock_type: str | None = Field(None, description="IB's stockType, e.g. ETF or COMMON")

    @model_validator(mode="after")
    def _not_crossed(self) -> QuoteModel:
        if self.bid and self.ask and self.bid > self.ask:
            raise ValueError(f"bid {self.bid} is above ask {self.ask} (a crossed market)")
        return self

    def to_quote(self) -> Quote:
        return Quote(
            bid=self.bid or None,
            ask=self.ask or None,
            last=self.last or None,
            bid_size=self.bid_size,
            ask_size=self.ask_size,
            last_size=self.last_size,
        )

    def to_instrument(self, symbol: str) -> Instrument:
        return make_instrument(
            symbol,
            primary_exchange=self.exchange.strip().upper() if self.exchange else None,
            long_name=self.name,
            stock_type=self.stock_type.strip().upper() if self.stock_type else None,
        )


class AccountModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cash: float = Field(ge=0, allow_inf_nan=False)
    positions: dict[Symbol, Shares] = Field(default_factory=dict)


class ClockModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    now: AwareDatetime | None
    running: bool = False


class ConfigFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accounts: dict[AccountId, AccountModel] | None = None
    quotes: dict[Symbol, QuoteModel] | None = None
    clock: ClockModel | None = None


class ConfigError(Exception):
    """The config file cannot be used; the message names the file, the entry and the field."""


def default_baseline() -> Baseline:
    return baseline_from(ConfigFile())


def baseline_from(config: ConfigFile, source: str = "defaults") -> Baseline:
    baseline = Baseline()
    if config.quotes is None:
        for symbol, listing in DEFAULT_LISTINGS.items():
            baseline.instruments.append(make_instrument(symbol))
            baseline.quotes[symbol] = Quote(listing.bid, listing.ask, listing.last)
    else:
        for symbol, quote in config.quotes.items():
            baseline.instruments.append(quote.to_instrument(symbol))
            baseline.quotes[symbol] = quote.to_quote()
    if config.accounts is None:
        baseline.accounts[DEFAULT_ACCOUNT_ID] = (DEFAULT_ACCOUNT_CASH, {})
    else:
        for account_id, account in config.accounts.items():
            unquoted = sorted(set(account.positions) - set(baseline.quotes))
            if unquoted:
                raise ConfigError(
                    f"{source}: accounts.{account_id}.positions: no quote for "
                    f"{', '.join(unquoted)}; add it under 'quotes'"
                )
            baseline.accounts[account_id] = (account.cash, dict(account.positions))
    if config.clock is not None:
        baseline.clock = config.clock.now
        baseline.clock_running = config.clock.running
    return baseline


def describe_errors(error: ValidationError) -> str:
    """pydantic's errors as `where: what` lines."""
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(body)"
        lines.append(f"{where}: {item['msg']}")
    return "; ".join(lines)


def load_config(path: Path) -> Baseline:
    try:
        raw: Any = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from None
    try:
        config = ConfigFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe_errors(exc)}") from None
    return baseline_from(config, str(path))
