"""The only module that talks to the Zehnlabs allocations API (SPEC section 4).

`GET {ALLOCATIONS_API_URL}/{strategy_name}/allocations` with the key in the `x-api-key` header
answers `{"status": "success", "data": {"name", "strategy_long_name", "last_rebalance_on",
"allocations": [{"symbol": "SPY", "allocation": 0.25}, ...]}}`.

Anything but a clean answer raises `AllocationsError` and the caller trades nothing. The rules:
- each weight is a finite number between 0 and 1; symbols are non-empty and unique (compared
  upper-cased, which is how they are returned);
- the weights sum to at most 1; the rest stays cash. A sum in (1, 1.01] is rounding at the
  source: the weights are scaled down proportionally so they sum to 1, and that is logged. A sum
  above 1.01 is refused: scaling that much would hide a real error and buy on margin;
- an empty list (or only zero weights) is refused: it would sell the whole account, and a
  faulty answer must never do that silently. A strategy that really goes to cash shows up as
  failing events with this message, and the user decides.

The API key travels only in the header: it is never part of a URL, a message or a log line, and
a server echoing it back has it replaced before its words reach an error message.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType

import httpx
from rebalancer_shared.allocations_api import AllocationsApi, AllocationsError, shorten
from rebalancer_shared.log import get_logger

log = get_logger(__name__)


# Zehnlabs rounds each weight, so a fully invested strategy may sum to slightly above 1.
SUM_ROUNDING_TOLERANCE = 0.01

__all__ = ["AllocationsClient", "AllocationsError", "StrategyAllocations", "parse_allocations"]

# Builds the AllocationsError for a reason, prefixed with the strategy it is about.
_Fail = Callable[[str], AllocationsError]


@dataclass(frozen=True)
class StrategyAllocations:
    """Target weights of one strategy: symbol (upper case) -> fraction of the account."""

    name: str
    long_name: str | None
    last_rebalance_on: str | None
    weights: dict[str, float]

    @property
    def total(self) -> float:
        return math.fsum(self.weights.values())


def parse_allocations(strategy_name: str, payload: object) -> StrategyAllocations:
    """Validate a decoded allocations answer; AllocationsError names strategy, symbol and value."""

    def fail(why: str) -> AllocationsError:
        return AllocationsError(f"allocations for strategy {strategy_name!r}: {why}")

    if not isinstance(payload, Mapping):
        raise fail(f"answer is {_kind(payload)}, expected a JSON object")
    status = payload.get("status")
    if status != "success":
        message = payload.get("message")
        detail = f": {shorten(str(message))}" if isinstance(message, str) and message else ""
        raise fail(f"status is {status!r}, expected 'success'{detail}")
    data = payload.get("data")
    if not isinstance(data, Mapping):
        raise fail(f"'data' is {_kind(data)}, expected an object")

    name = _optional_text(data, "name", fail)
    if name is not None and name != strategy_name:
        # Informational only: the URL chose the strategy; a display name differing in case or
        # wording is not worth refusing a rebalance for.
        log.warning("allocations.name_differs", strategy=strategy_name, answered_name=name)
    long_name = _optional_text(data, "strategy_long_name", fail)
    last_rebalance_on = _optional_text(data, "last_rebalance_on", fail)

    entries = data.get("allocations")
    if not isinstance(entries, list):
        raise fail(f"'data.allocations' is {_kind(entries)}, expected a list")
    weights: dict[str, float] = {}
    for index, entry in enumerate(entries):
        symbol, weight = _entry(index, entry, fail)
        if symbol in weights:
            raise fail(f"symbol {symbol} appears twice (allocations[{index}])")
        weights[symbol] = weight

    total = math.fsum(weights.values())
    if total > 1.0 + SUM_ROUNDING_TOLERANCE:
        raise fail(
            f"weights sum to {total:.6g}, above 1 (at most {1 + SUM_ROUNDING_TOLERANCE:g} "
            "is accepted as rounding): "
            + ", ".join(f"{symbol} {weight:g}" for symbol, weight in weights.items())
        )
    if total > 1.0:
        weights = {symbol: weight / total for symbol, weight in weights.items()}
        log.info("allocations.scaled_to_one", strategy=strategy_name, answered_sum=total)
    if total <= 0:
        raise fail("no allocation above 0: refusing to sell the whole account on this answer")
    return StrategyAllocations(
        name=name or strategy_name,
        long_name=long_name,
        last_rebalance_on=last_rebalance_on,
        weights=weights,
    )


def _entry(index: int, entry: object, fail: _Fail) -> tuple[str, float]:
    where = f"allocations[{index}]"
    if not isinstance(entry, Mapping):
        raise fail(f"{where} is {_kind(entry)}, expected an object with symbol and allocation")
    symbol = entry.get("symbol")
    if not isinstance(symbol, str):
        raise fail(f"{where} symbol is {_kind(symbol)}, expected a string")
    symbol = symbol.strip().upper()
    if not symbol:
        raise fail(f"{where} symbol is empty")
    value = entry.get("allocation")
    # bool is an int in Python; `true` as a weight is a broken answer, not 100 %.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise fail(f"{symbol} allocation is {_kind(value)}, expected a number")
    weight = float(value)
    if not math.isfinite(weight):
        raise fail(f"{symbol} allocation {weight} is not a finite number")
    if not 0.0 <= weight <= 1.0:
        raise fail(f"{symbol} allocation {weight:g} is not between 0 and 1")
    return symbol, weight


def _optional_text(data: Mapping[str, object], field: str, fail: _Fail) -> str | None:
    value = data.get(field)
    if value is None or isinstance(value, str):
        return value
    raise fail(f"'data.{field}' is {_kind(value)}, expected a string")


def _kind(value: object) -> str:
    """How a JSON value is named in a message: `missing`, `a list`, `the string 'x'`..."""
    if value is None:
        return "missing or null"
    if isinstance(value, str):
        return f"the string {shorten(value)!r}"
    if isinstance(value, bool | int | float):
        return f"{value!r}"
    return f"a {type(value).__name__}"


class AllocationsClient:
    """Fetches a strategy's allocations; one instance per processor, reused across events."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        timeout_seconds: float = 10.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._api = AllocationsApi(base_url, api_key, timeout_seconds, client)

    def __repr__(self) -> str:
        # Never the key: a repr ends up in tracebacks and debug logs.
        return f"AllocationsClient(base_url={self._api.base_url!r})"

    def url(self, strategy_name: str) -> str:
        return self._api.url(strategy_name)

    async def fetch(self, strategy_name: str) -> StrategyAllocations:
        """The strategy's current target weights, or AllocationsError saying what went wrong."""
        started = time.monotonic()
        try:
            allocations = parse_allocations(strategy_name, await self._api.get(strategy_name))
        except AllocationsError as error:
            # The answer's own words (a status message, a symbol) may echo the key back.
            message = self._api.redact(str(error))
            log.warning("allocations.failed", strategy=strategy_name, error=message)
            if message != str(error):
                raise AllocationsError(message) from None
            raise
        log.info(
            "allocations.fetched",
            strategy=strategy_name,
            symbols=len(allocations.weights),
            total=round(allocations.total, 6),
            last_rebalance_on=allocations.last_rebalance_on,
            elapsed_ms=round((time.monotonic() - started) * 1000),
        )
        return allocations

    async def aclose(self) -> None:
        """Close the HTTP connections, unless the client was handed in (its owner closes it)."""
        await self._api.aclose()

    async def __aenter__(self) -> AllocationsClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
