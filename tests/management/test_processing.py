"""Pause and resume: the shared kill switch, visible in `/processing` and `/health`."""

from __future__ import annotations

import httpx
from rebalancer_shared.queue import EventQueue


async def test_pause_sets_the_shared_flag(client: httpx.AsyncClient, queue: EventQueue) -> None:
    response = await client.post("/processing/pause")

    assert response.status_code == 200
    body = response.json()
    assert body["paused"] is True
    assert body["paused_by"] == "management-api"
    assert "no new orders" in body["message"]
    assert await queue.paused() is not None
    assert (await client.get("/health")).json()["paused"] is True


async def test_pause_twice_keeps_the_first_pause(
    client: httpx.AsyncClient, queue: EventQueue
) -> None:
    await queue.pause(by="ops")

    body = (await client.post("/processing/pause")).json()

    assert body["paused"] is True
    assert body["paused_by"] == "ops"


async def test_resume_clears_the_flag(client: httpx.AsyncClient, queue: EventQueue) -> None:
    await queue.pause(by="ops")

    response = await client.post("/processing/resume")

    assert response.status_code == 200
    assert response.json() == {
        "paused": False,
        "paused_by": None,
        "paused_at": None,
        "message": "Processing is running",
    }
    assert await queue.paused() is None
    assert (await client.get("/health")).json()["paused"] is False


async def test_processing_state(client: httpx.AsyncClient, queue: EventQueue) -> None:
    assert (await client.get("/processing")).json()["paused"] is False
    await queue.pause(by="ops")
    assert (await client.get("/processing")).json()["paused"] is True
