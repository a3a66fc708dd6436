"""How far an account ends from its targets, in shares: the check behind issue 9's "every
account within one share per symbol of its target".

A symbol's target is the planner's (docs/planner.md): weight x (value - reserve) shares'
worth, where value is cash plus every position at its buy limit price (ask + slippage) and the
reserve is `cash_reserve_percent` of the net liquidation the plan read (for the buys, IB's
after the sells: the buys' own costs then lower IB's figure a little, and with it the reserve,
so the chaos audit takes the one the plan read). Counting the positions at the price a buy may
cost is what lets the planner promise that no fill takes cash below the reserve; the same
target at market prices (the ask, net liquidation as IB reports it) differs from it by the
slippage on the cash line, and `shares_off_at_market` measures that.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from event_processor.planner import DEFAULT_BUY_SLIPPAGE_PERCENT, limit_price


def _off(
    positions: Mapping[str, int],
    total: float,
    reserve: float,
    weights: Mapping[str, float],
    prices: Mapping[str, float],
) -> dict[str, float]:
    return {
        symbol: positions.get(symbol, 0)
        - weights.get(symbol, 0.0) * (total - reserve) / prices[symbol]
        for symbol in sorted(set(weights) | {s for s, q in positions.items() if q})
    }


def shares_off_target(
    positions: Mapping[str, int],
    cash: float,
    net_liquidation: float,
    weights: Mapping[str, float],
    reserve_percent: float,
    asks: Mapping[str, float],
    slippage_percent: float = DEFAULT_BUY_SLIPPAGE_PERCENT,
) -> dict[str, float]:
    """Held minus target shares (the planner's target) for every symbol held or targeted;
    `net_liquidation` is the one the reserve is taken of."""
    limits = {symbol: limit_price(ask, slippage_percent) for symbol, ask in asks.items()}
    value = cash + sum(count * limits[symbol] for symbol, count in positions.items())
    reserve = net_liquidation * reserve_percent / 100
    return _off(positions, value, reserve, weights, limits)


def shares_off_at_market(
    positions: Mapping[str, int],
    net_liquidation: float,
    weights: Mapping[str, float],
    reserve_percent: float,
    asks: Mapping[str, float],
) -> dict[str, float]:
    """Held minus weight x net liquidation x (1 - reserve) / ask, for the figures."""
    reserve = net_liquidation * reserve_percent / 100
    return _off(positions, net_liquidation, reserve, weights, asks)


def beyond_one_share(
    account: Mapping[str, Any],
    weights: Mapping[str, float],
    reserve_percent: float,
    asks: Mapping[str, float],
) -> dict[str, float]:
    """The symbols of an account as the IB simulator reports it (`positions`, `cash`,
    `net_liquidation`) more than one whole share from their target, with how far (rounded)."""
    off = shares_off_target(
        account["positions"],
        float(account["cash"]),
        float(account["net_liquidation"]),
        weights,
        reserve_percent,
        asks,
    )
    return {symbol: round(shares, 3) for symbol, shares in off.items() if abs(shares) > 1.0}
