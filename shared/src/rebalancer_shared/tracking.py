"""Tracking error: how far an account's weights are from its targets, in one number (pure).

The planner minimises it and the management service shows it as an account's drift; both take
it from here so that the two always mean the same figure.
"""

from __future__ import annotations

from collections.abc import Mapping


def tracking_error(
    positions: Mapping[str, int],
    cash: float,
    prices: Mapping[str, float],
    target_weights: Mapping[str, float],
) -> float:
    """Half the sum of |actual - target| weights, cash counted as one more line.

    `target_weights` are the weights the positions should have (the planner uses the strategy's
    weights x (1 - reserve/100)); the cash line's target is what they leave. Each position is
    valued at `prices` (the planner uses the limit prices); the total is cash plus positions.
    Raises ValueError for a held symbol without a price or an account worth nothing.
    """
    values: dict[str, float] = {}
    for symbol, quantity in positions.items():
        if quantity:
            if symbol not in prices:
                raise ValueError(f"tracking_error: no price for held symbol {symbol}")
            values[symbol] = quantity * prices[symbol]
    total = cash + sum(values.values())
    if not total > 0:
        raise ValueError(f"tracking_error: the account's value {total} is not positive")
    error = abs(cash / total - (1.0 - sum(target_weights.values())))
    for symbol in values.keys() | target_weights.keys():
        error += abs(values.get(symbol, 0.0) / total - target_weights.get(symbol, 0.0))
    return error / 2
