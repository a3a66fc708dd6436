"""Events a trader would recognise, for queue tests."""

from __future__ import annotations

from rebalancer_shared.events import Event


def make_event(
    account_id: str = "DU1234567", command: str = "rebalance", **fields: object
) -> Event:
    return Event.model_validate(
        {"account_id": account_id, "exec": command, "strategy_name": "etf-blend", **fields}
    )
