"""`GET /history`: finished attempts, newest first, with the orders and fills recorded."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AfterValidator

from management_service.deps import Queue
from management_service.models import (
    ACCOUNT_ID_JSON_PATTERN,
    HISTORY_LIMIT_DEFAULT,
    LIST_LIMIT_MAX,
    HistoryEntry,
    HistoryList,
    check_account_id,
)

router = APIRouter(tags=["history"])


def _optional_account_id(value: str | None) -> str | None:
    return None if value is None else check_account_id(value)


AccountIdQuery = Annotated[
    str | None,
    Query(
        description="Only this account's attempts.",
        json_schema_extra={"pattern": ACCOUNT_ID_JSON_PATTERN},
    ),
    AfterValidator(_optional_account_id),
]


@router.get("/history", response_model=HistoryList, summary="Trade history")
async def history(
    queue: Queue,
    account_id: AccountIdQuery = None,
    limit: Annotated[
        int, Query(ge=1, le=LIST_LIMIT_MAX, description="At most this many entries.")
    ] = HISTORY_LIMIT_DEFAULT,
) -> HistoryList:
    records = await queue.history(limit=limit, account_id=account_id)
    entries = [HistoryEntry.of(record) for record in records]
    return HistoryList(entries=entries, count=len(entries), account_id=account_id)
