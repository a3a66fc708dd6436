"""The queue: status, list, add, delete, clear and retry-now (SPEC section 7)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from rebalancer_shared.config import AccountConfig
from rebalancer_shared.events import Command, Event, EventSource
from rebalancer_shared.log import get_logger
from rebalancer_shared.queue import EnqueueOutcome, EventListType
from rebalancer_shared.settings import TradingMode

from management_service.deps import Queue, State, json_body
from management_service.models import (
    LIST_LIMIT_DEFAULT,
    LIST_LIMIT_MAX,
    AddEventRequest,
    AddEventResponse,
    ClearQueueResponse,
    DuplicateEventResponse,
    ErrorResponse,
    EventListQueryType,
    QueueEvent,
    QueueEventList,
    QueueStatus,
    RemoveEventResponse,
    RetryEventResponse,
)

router = APIRouter(prefix="/queue", tags=["queue"])

TRADING_COMMANDS = frozenset({Command.REBALANCE, Command.PRINT_REBALANCE})
"""Commands that need the account's settings (its cash reserve) from accounts.yaml."""

RESERVE_TOLERANCE = 1e-9
"""Equality of a cash reserve sent for compatibility with the configured one."""

LIST_ORDER = (
    EventListType.PROCESSING,
    EventListType.ACTIVE,
    EventListType.RETRY,
    EventListType.DELAYED,
)

log = get_logger(__name__)

EventId = Annotated[str, Path(min_length=1, max_length=64, description="The event's id.")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No event with this id."}
}


def invalid(field: str, message: str) -> RequestValidationError:
    """A 422 in FastAPI's own shape, for input that is well-formed but cannot be accepted."""
    return RequestValidationError(
        [{"loc": ("body", field), "msg": message, "type": "value_error", "input": None}]
    )


@router.get("/status", response_model=QueueStatus, summary="Queue counts")
async def queue_status(queue: Queue) -> QueueStatus:
    counts = await queue.counts()
    return QueueStatus(
        queue_length=counts.queue_length,
        active_events_count=counts.active_events_count,
        retry_events_count=counts.retry_events_count,
        delayed_events_count=counts.delayed_events_count,
        processing_count=counts.processing_count,
        oldest_event_age_seconds=(
            round(counts.oldest_event_age_seconds, 3)
            if counts.oldest_event_age_seconds is not None
            else None
        ),
    )


@router.get("/events", response_model=QueueEventList, summary="List events")
async def list_events(
    queue: Queue,
    list_type: Annotated[
        EventListQueryType,
        Query(alias="type", description="Which events: active, retry, delayed, processing, all."),
    ] = EventListQueryType.ALL,
    limit: Annotated[
        int, Query(ge=1, le=LIST_LIMIT_MAX, description="At most this many events.")
    ] = LIST_LIMIT_DEFAULT,
) -> QueueEventList:
    every = list_type is EventListQueryType.ALL
    wanted = LIST_ORDER if every else (EventListType(list_type.value),)
    events: list[QueueEvent] = []
    for kind in wanted:
        if len(events) >= limit:
            break
        found = await queue.list_events(kind, limit - len(events))
        events += [QueueEvent.of(event, kind) for event in found]
    return QueueEventList(events=events, count=len(events), type=list_type)


def _account_for(state: State, request: AddEventRequest) -> AccountConfig | None:
    """The configured account, or None; 422 when a trading command has no usable account."""
    account = state.accounts.find(request.account_id)
    mode: TradingMode = state.settings.trading_mode
    usable = account is not None and account.enabled and account.type == mode
    if request.exec_command in TRADING_COMMANDS and not usable:
        raise invalid(
            "account_id",
            f"account {request.account_id} is not an enabled {mode.value} account in "
            f"{state.settings.accounts_file.name}: {request.exec_command.value} needs the "
            "account's settings (cash reserve, replacement set); add it there or enable it",
        )
    return account if usable else None


@router.post(
    "/events",
    status_code=status.HTTP_201_CREATED,
    response_model=AddEventResponse,
    summary="Add an event",
    dependencies=[Depends(json_body)],
    responses={
        202: {
            "model": AddEventResponse,
            "description": "The same command for the account is running now; it will run "
            "once more after it finishes (no new event id).",
        },
        400: {"model": ErrorResponse, "description": "The body is not UTF-8 text."},
        409: {
            "model": DuplicateEventResponse,
            "description": "The same command for the account is already waiting.",
        },
        415: {"model": ErrorResponse, "description": "The body is not sent as JSON."},
    },
)
async def add_event(request: AddEventRequest, state: State, queue: Queue) -> Any:
    account = _account_for(state, request)
    settings = state.accounts.settings_for(account) if account else None
    if request.cash_reserve_percent is not None:
        configured = settings.cash_reserve_percent if settings else None
        if configured is None or abs(configured - request.cash_reserve_percent) > RESERVE_TOLERANCE:
            raise invalid(
                "cash_reserve_percent",
                f"cash_reserve_percent {request.cash_reserve_percent} is not the one configured "
                f"for {request.account_id} ({configured}); the reserve comes from "
                f"{state.settings.accounts_file.name} only: leave this field out",
            )
    event = Event(
        account_id=request.account_id,
        exec=request.exec_command,
        strategy_name=request.strategy_name or (settings.strategy_name if settings else None),
        source=EventSource.API,
        payload={**request.extra_fields(), **request.payload},
        account=settings,
    )
    result = await queue.enqueue(event)
    log.info(
        "api.enqueue",
        event_id=result.event_id,
        account_id=event.account_id,
        exec=event.exec.value,
        outcome=result.outcome.value,
    )
    if result.outcome is EnqueueOutcome.DUPLICATE:
        conflict = DuplicateEventResponse(
            detail=f"an event {event.dedup_key} is already active (event {result.event_id}); "
            "this one was not added",
            event_id=result.event_id,
        )
        return JSONResponse(status_code=status.HTTP_409_CONFLICT, content=conflict.model_dump())
    if result.outcome is EnqueueOutcome.RERUN_MARKED:
        marked = AddEventResponse(
            event_id=result.event_id,
            status="rerun_marked",
            message=f"event {result.event_id} ({event.dedup_key}) is running now; it will run "
            "once more after it finishes",
        )
        return JSONResponse(status_code=status.HTTP_202_ACCEPTED, content=marked.model_dump())
    return AddEventResponse(
        event_id=result.event_id, status="queued", message="Event added successfully"
    )


@router.delete(
    "/events/{event_id}",
    response_model=RemoveEventResponse,
    summary="Delete an event",
    responses=NOT_FOUND,
)
async def remove_event(event_id: EventId, queue: Queue) -> RemoveEventResponse:
    outcome = await queue.delete(event_id)
    log.info("api.delete", event_id=event_id, outcome=outcome)
    if outcome == "not_found":
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Event {event_id} not found in queue")
    if outcome == "deleted_in_flight":
        return RemoveEventResponse(
            event_id=event_id,
            status="deleted_in_flight",
            running=True,
            message=f"Event {event_id} removed; it is running: it stops before its next order "
            "batch (orders already filled stay, working orders are cancelled) and is not retried",
        )
    return RemoveEventResponse(
        event_id=event_id, status="deleted", message=f"Event {event_id} removed successfully"
    )


@router.delete("/events", response_model=ClearQueueResponse, summary="Delete every waiting event")
async def clear_events(queue: Queue) -> ClearQueueResponse:
    count = await queue.clear()
    log.info("api.clear", deleted=count)
    return ClearQueueResponse(
        deleted_count=count,
        message=f"Removed {count} event{'s' if count != 1 else ''}; events running now finish",
    )


@router.post(
    "/events/{event_id}/retry",
    response_model=RetryEventResponse,
    summary="Run a waiting event now",
    responses={
        **NOT_FOUND,
        409: {"model": ErrorResponse, "description": "The event is not waiting (retry/delayed)."},
    },
)
async def retry_event(event_id: EventId, queue: Queue) -> RetryEventResponse:
    event = await queue.get(event_id)
    if event is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Event {event_id} not found in queue")
    if not await queue.retry_now(event_id):
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"Event {event_id} is {event.status.value}, not waiting for a retry or the market "
            "open: nothing to retry",
        )
    log.info("api.retry_now", event_id=event_id, account_id=event.account_id)
    return RetryEventResponse(
        event_id=event_id, message=f"Event {event_id} moved to the head of the queue"
    )
