"""`GET /accounts`: accounts.yaml with each account's last outcome and drift from the history."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from rebalancer_shared.events import Outcome

from management_service.deps import Queue, State
from management_service.drift import drift_of
from management_service.models import AccountDrift, AccountList, AccountOverview

router = APIRouter(tags=["accounts"])

HISTORY_SCAN = 1000
"""How many recent history entries the overview reads to find each account's last outcome."""


def last_attempts(
    records: list[dict[str, Any]],
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The newest attempt and the newest success of each account (records are newest first)."""
    last: dict[str, dict[str, Any]] = {}
    success: dict[str, dict[str, Any]] = {}
    for record in records:
        account = record.get("account_id")
        if not isinstance(account, str):
            continue
        last.setdefault(account, record)
        if record.get("outcome") == Outcome.SUCCEEDED.value:
            success.setdefault(account, record)
    return last, success


def last_rebalances(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The newest succeeded `rebalance` of each account (records are newest first)."""
    found: dict[str, dict[str, Any]] = {}
    for record in records:
        account = record.get("account_id")
        if (
            isinstance(account, str)
            and record.get("outcome") == Outcome.SUCCEEDED.value
            and record.get("exec") == "rebalance"
        ):
            found.setdefault(account, record)
    return found


def _drift(record: dict[str, Any] | None, reserve_percent: float) -> AccountDrift | None:
    if record is None or not isinstance(record.get("details"), dict):
        return None
    return drift_of(record["details"], reserve_percent, _text(record.get("finished_at")))


def _text(value: object) -> str | None:
    return None if value is None else str(value)


@router.get("/accounts", response_model=AccountList, summary="Configured accounts")
async def accounts(state: State, queue: Queue) -> AccountList:
    records = await queue.history(limit=HISTORY_SCAN)
    last, success = last_attempts(records)
    rebalanced = last_rebalances(records)
    mode = state.settings.trading_mode
    overview = []
    for account in state.accounts.accounts:
        latest = last.get(account.account_id, {})
        succeeded = success.get(account.account_id, {})
        overview.append(
            AccountOverview(
                account_id=account.account_id,
                type=account.type.value,
                enabled=account.enabled,
                active=account.enabled and account.type == mode,
                strategy_name=account.strategy_name,
                cash_reserve_percent=account.cash_reserve_percent,
                replacement_set=account.replacement_set,
                last_outcome=_text(latest.get("outcome")),
                last_command=_text(latest.get("exec")),
                last_event_at=_text(latest.get("finished_at")),
                last_error=_text(latest.get("error")),
                last_success_at=_text(succeeded.get("finished_at")),
                drift=_drift(rebalanced.get(account.account_id), account.cash_reserve_percent),
            )
        )
    return AccountList(
        accounts=overview,
        count=len(overview),
        trading_mode=mode.value,
        history_scanned=len(records),
    )
