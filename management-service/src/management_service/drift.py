"""How far an account stood from its targets after its last rebalance (SPEC section 7's
"drift from target" on the account overview).

Pure: it reads what the processor recorded for a succeeded `rebalance` (`details`:
`target_weights` after replacements, `quotes`, `positions_after`, `cash_after`), so it needs no
gateway and costs no IB message. It is the drift *as of that rebalance*: prices have moved
since, which only the next rebalance (or `print-rebalance`) sees.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rebalancer_shared.tracking import tracking_error

from management_service.models import AccountDrift, SymbolDrift


def drift_of(
    details: Mapping[str, Any], reserve_percent: float, as_of: str | None
) -> AccountDrift | None:
    """The drift recorded in one succeeded rebalance's details; None when they lack the data
    (a `print-rebalance`, an older record, an observe-only run)."""
    targets = details.get("target_weights")
    quotes = details.get("quotes")
    positions = details.get("positions_after")
    cash = details.get("cash_after")
    if not (isinstance(targets, dict) and isinstance(quotes, dict) and isinstance(positions, dict)):
        return None
    if not isinstance(cash, int | float):
        return None
    symbols = sorted(set(targets) | {s for s, n in positions.items() if n})
    mids = {symbol: _mid(quotes.get(symbol)) for symbol in symbols}
    prices = {symbol: mid for symbol, mid in mids.items() if mid is not None}
    if len(prices) < len(symbols):
        return None
    values = {symbol: positions.get(symbol, 0) * prices[symbol] for symbol in symbols}
    total = cash + sum(values.values())
    if total <= 0:
        return None
    invested = 1 - reserve_percent / 100
    rows = []
    for symbol in symbols:
        target = float(targets.get(symbol, 0.0)) * invested
        actual = values[symbol] / total
        rows.append(
            SymbolDrift(
                symbol=symbol,
                shares=int(positions.get(symbol, 0)),
                target_shares=round(target * total / prices[symbol], 2),
                target_percent=round(100 * target, 3),
                actual_percent=round(100 * actual, 3),
                drift_percent=round(100 * (actual - target), 3),
            )
        )
    scaled = {symbol: float(weight) * invested for symbol, weight in targets.items()}
    cash_drift = cash / total - (1 - sum(scaled.values()))
    error = tracking_error({s: int(positions.get(s, 0)) for s in symbols}, cash, prices, scaled)
    return AccountDrift(
        as_of=as_of,
        tracking_error_percent=round(100 * error, 3),
        cash_percent=round(100 * cash / total, 3),
        cash_drift_percent=round(100 * cash_drift, 3),
        symbols=rows,
    )


def _mid(quote: object) -> float | None:
    if not isinstance(quote, dict):
        return None
    bid, ask = quote.get("bid"), quote.get("ask")
    if not isinstance(bid, int | float) or not isinstance(ask, int | float) or bid <= 0 or ask <= 0:
        return None
    return (bid + ask) / 2
