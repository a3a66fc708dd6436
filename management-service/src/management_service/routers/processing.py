"""Pause and resume: the kill switch the processor checks before every new order."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from rebalancer_shared.log import get_logger

from management_service.deps import Queue
from management_service.models import ProcessingState

log = get_logger(__name__)

router = APIRouter(prefix="/processing", tags=["processing"])

PAUSED_BY_API = "management-api"


def processing_state(paused: dict[str, Any] | None) -> ProcessingState:
    if paused is None:
        return ProcessingState(paused=False, message="Processing is running")
    return ProcessingState(
        paused=True,
        paused_by=str(paused.get("by")),
        paused_at=str(paused.get("at")),
        message="Processing is paused: no new orders are placed until it is resumed",
    )


@router.get("", response_model=ProcessingState, summary="Whether processing is paused")
async def get_processing(queue: Queue) -> ProcessingState:
    return processing_state(await queue.paused())


@router.post("/pause", response_model=ProcessingState, summary="Pause processing (kill switch)")
async def pause(queue: Queue) -> ProcessingState:
    if await queue.paused() is None:
        await queue.pause(by=PAUSED_BY_API)
        log.warning("api.pause")
    return processing_state(await queue.paused())


@router.post("/resume", response_model=ProcessingState, summary="Resume processing")
async def resume(queue: Queue) -> ProcessingState:
    await queue.resume()
    log.info("api.resume")
    return processing_state(None)
