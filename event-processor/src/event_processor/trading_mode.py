"""Pure: does the IB Gateway we reached trade in TRADING_MODE? (SPEC section 6.)

IB names paper accounts with a D (DU1234567, DF...); live ones start with U, F or I. A gateway
logged in to the other mode is a configuration mistake that trades the wrong money, or none:
forgetting `IB_GATEWAY_API_PORT=4003` for live, or pointing a paper setup at a live gateway.
"""

from __future__ import annotations

from collections.abc import Sequence

from rebalancer_shared.settings import TradingMode


class WrongTradingMode(Exception):
    """The gateway manages accounts of the other mode: nothing may be traded; the message is the
    one line the processor stops with."""


def is_paper_account(account_id: str) -> bool:
    return account_id.strip().upper().startswith("D")


def mode_mismatch(mode: TradingMode, managed: Sequence[str], gateway: str) -> str | None:
    """The line naming the mode, the first account of the other mode and what to fix; None when
    every managed account is of `mode`."""
    for account in managed:
        paper = is_paper_account(account)
        if mode is TradingMode.PAPER and not paper:
            return (
                f"TRADING_MODE=paper, but IB Gateway at {gateway} manages live account "
                f"{account}: log the gateway in to paper trading (its paper port, "
                "IB_GATEWAY_API_PORT=4004 in Docker), or set TRADING_MODE=live to trade live "
                "on purpose"
            )
        if mode is TradingMode.LIVE and paper:
            return (
                f"TRADING_MODE=live, but IB Gateway at {gateway} manages paper account "
                f"{account}: point the processor at the gateway's live port "
                "(IB_GATEWAY_API_PORT=4003 in Docker) and log it in to live trading, or set "
                "TRADING_MODE=paper"
            )
    return None
