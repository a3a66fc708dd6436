"""The queue endpoints of SPEC section 7 against a real redis-server, with the original names."""

from __future__ import annotations

from typing import Any

import httpx
from rebalancer_shared.events import EventSource
from rebalancer_shared.queue import EventListType, EventQueue

from tests.management.helpers import delayed_to_open, enqueued, in_retry, make_event, taken

ORIGINAL_EVENT_FIELDS = {
    "event_id",
    "account_id",
    "exec_command",
    "times_queued",
    "created_at",
    "type",
    "retry_after",
    "execution_time",
    "data",
}
SPEC_EVENT_FIELDS = {
    "exec",
    "strategy_name",
    "source",
    "status",
    "last_error",
    "received_at",
    "not_before",
}


def reasons(response: httpx.Response) -> str:
    """Every message of a 422 answer, joined, to assert on what the user reads."""
    detail: list[dict[str, Any]] = response.json()["detail"]
    return " | ".join(str(problem["msg"]) for problem in detail)


# --- GET /queue/status --------------------------------------------------------------------------


async def test_status_of_an_empty_queue_has_the_original_fields(client: httpx.AsyncClient) -> None:
    response = await client.get("/queue/status")

    assert response.status_code == 200
    assert response.json() == {
        "queue_length": 0,
        "active_events_count": 0,
        "retry_events_count": 0,
        "delayed_events_count": 0,
        "processing_count": 0,
        "oldest_event_age_seconds": None,
    }


async def test_status_counts_events_in_every_state(
    client: httpx.AsyncClient, queue: EventQueue
) -> None:
    await in_retry(queue, make_event("DU7654321", "rebalance"))
    await delayed_to_open(queue, make_event("DU1234567", "print-rebalance"))
    await taken(queue, make_event("DU7654321", "print-positions"))
    await enqueued(queue, make_event("DU1234567", "rebalance"))

    status = (await client.get("/queue/status")).json()

    assert status["queue_length"] == 1
    assert status["retry_events_count"] == 1
    assert status["delayed_events_count"] == 1
    assert status["processing_count"] == 1
    assert status["active_events_count"] == 4
    assert status["oldest_event_age_seconds"] >= 0


# --- GET /queue/events --------------------------------------------------------------------------


async def test_events_list_every_kind_with_original_and_spec_fields(
    client: httpx.AsyncClient, queue: EventQueue
) -> None:
    retry = await in_retry(queue, make_event("DU7654321", "rebalance"))
    delayed = await delayed_to_open(queue, make_event("DU1234567", "print-rebalance"))
    queued = await enqueued(queue, make_event("DU1234567", "rebalance", payload={"id": "z-1"}))

    body = (await client.get("/queue/events")).json()

    assert body["type"] == "all"
    assert body["count"] == 3
    by_id = {event["event_id"]: event for event in body["events"]}
    for event in by_id.values():
        assert set(event) >= ORIGINAL_EVENT_FIELDS | SPEC_EVENT_FIELDS
    first = by_id[queued.event_id]
    assert first["account_id"] == "DU1234567"
    assert first["exec_command"] == first["exec"] == "rebalance"
    assert first["type"] == "active" and first["status"] == "queued"
    assert first["times_queued"] == 1
    assert first["data"] == first["payload"] == {"id": "z-1"}
    assert first["created_at"] == first["received_at"]
    failed = by_id[retry.event_id]
    assert failed["type"] == "retry" and failed["status"] == "retry"
    assert failed["times_queued"] == 2
    assert failed["last_error"] == "IB error 201: order rejected"
    assert failed["retry_after"] == failed["not_before"] is not None
    waiting = by_id[delayed.event_id]
    assert waiting["type"] == "delayed"
    assert waiting["execution_time"] == waiting["not_before"] is not None
    assert waiting["retry_after"] is None
    assert waiting["last_error"] == "market closed until 09:30 ET"


async def test_events_filtered_by_type(client: httpx.AsyncClient, queue: EventQueue) -> None:
    retry = await in_retry(queue, make_event("DU7654321", "rebalance"))
    running = await taken(queue, make_event("DU7654321", "print-equity"))
    await enqueued(queue, make_event("DU1234567", "rebalance"))

    retry_list = (await client.get("/queue/events", params={"type": "retry"})).json()
    processing = (await client.get("/queue/events", params={"type": "processing"})).json()
    delayed = (await client.get("/queue/events", params={"type": "delayed"})).json()

    assert retry_list["type"] == "retry"
    assert [e["event_id"] for e in retry_list["events"]] == [retry.event_id]
    assert [e["event_id"] for e in processing["events"]] == [running.event_id]
    assert processing["events"][0]["consumer"] == "proc-1"
    assert delayed == {"events": [], "count": 0, "type": "delayed"}


async def test_events_limit_caps_the_list(client: httpx.AsyncClient, queue: EventQueue) -> None:
    for command in ("print-positions", "print-equity", "print-orders"):
        await enqueued(queue, make_event("DU1234567", command))

    body = (await client.get("/queue/events", params={"type": "active", "limit": 2})).json()

    assert body["count"] == 2
    assert [e["exec_command"] for e in body["events"]] == ["print-positions", "print-equity"]


async def test_unknown_event_type_is_422_naming_the_choices(client: httpx.AsyncClient) -> None:
    response = await client.get("/queue/events", params={"type": "failed"})

    assert response.status_code == 422
    assert "Input should be 'all', 'active', 'retry', 'delayed' or 'processing'" in reasons(
        response
    )


async def test_limit_out_of_range_is_422(client: httpx.AsyncClient) -> None:
    too_small = await client.get("/queue/events", params={"limit": 0})
    too_large = await client.get("/queue/events", params={"limit": 1001})
    not_a_number = await client.get("/queue/events", params={"limit": "ten"})

    assert too_small.status_code == too_large.status_code == not_a_number.status_code == 422
    assert "greater than or equal to 1" in reasons(too_small)
    assert "less than or equal to 1000" in reasons(too_large)


# --- POST /queue/events -------------------------------------------------------------------------


async def test_add_event_queues_it_with_the_account_settings(
    client: httpx.AsyncClient, queue: EventQueue
) -> None:
    response = await client.post(
        "/queue/events", json={"account_id": "DU7654321", "exec_command": "rebalance"}
    )

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "queued"
    assert body["message"] == "Event added successfully"
    event = await queue.get(body["event_id"])
    assert event is not None
    assert event.source is EventSource.API
    assert event.strategy_name == "tqqq-fang"
    assert event.account is not None
    assert event.account.cash_reserve_percent == 2.5
    assert [(r.source, r.target) for r in event.account.replacements] == [("SPY", "VOO")]


async def test_add_event_keeps_strategy_payload_and_extra_fields(
    client: httpx.AsyncClient, queue: EventQueue
) -> None:
    response = await client.post(
        "/queue/events",
        json={
            "account_id": "DU1234567",
            "exec_command": "print-rebalance",
            "strategy_name": "etf-blend-100-50",
            "payload": {"note": "check before the close"},
            "eventId": "00000000-0000-0000-0000-000000000000",
        },
    )

    assert response.status_code == 201
    event = await queue.get(response.json()["event_id"])
    assert event is not None
    assert event.strategy_name == "etf-blend-100-50"
    assert event.payload == {
        "note": "check before the close",
        "eventId": "00000000-0000-0000-0000-000000000000",
    }


async def test_add_event_accepts_the_configured_cash_reserve(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/queue/events",
        json={"account_id": "DU7654321", "exec_command": "rebalance", "cash_reserve_percent": 2.5},
    )

    assert response.status_code == 201


async def test_add_event_refuses_a_different_cash_reserve(
    client: httpx.AsyncClient, queue: EventQueue
) -> None:
    response = await client.post(
        "/queue/events",
        json={"account_id": "DU7654321", "exec_command": "rebalance", "cash_reserve_percent": 5},
    )

    assert response.status_code == 422
    assert "cash_reserve_percent 5.0 is not the one configured for DU7654321 (2.5)" in reasons(
        response
    )
    assert (await queue.counts()).active_events_count == 0


async def test_duplicate_event_is_409_with_the_active_twin(
    client: httpx.AsyncClient, queue: EventQueue
) -> None:
    first = await client.post(
        "/queue/events", json={"account_id": "DU1234567", "exec_command": "rebalance"}
    )
    second = await client.post(
        "/queue/events", json={"account_id": "DU1234567", "exec_command": "rebalance"}
    )

    assert second.status_code == 409
    body = second.json()
    assert body["status"] == "duplicate"
    assert body["event_id"] == first.json()["event_id"]
    assert "DU1234567:rebalance is already active" in body["detail"]
    assert (await queue.counts()).queue_length == 1


async def test_event_while_its_twin_runs_is_202_and_runs_once_more(
    client: httpx.AsyncClient, queue: EventQueue
) -> None:
    running = await taken(queue, make_event("DU1234567", "rebalance"))

    marked = await client.post(
        "/queue/events", json={"account_id": "DU1234567", "exec_command": "rebalance"}
    )
    again = await client.post(
        "/queue/events", json={"account_id": "DU1234567", "exec_command": "rebalance"}
    )

    assert marked.status_code == 202
    assert marked.json()["status"] == "rerun_marked"
    assert marked.json()["event_id"] == running.event_id
    assert "will run once more" in marked.json()["message"]
    # Another one while it still runs replaces the first: still one extra run, not two.
    assert again.status_code == 202
    assert again.json()["event_id"] == running.event_id
    event = await queue.get(running.event_id)
    assert event is not None and event.rerun_pending


async def test_unknown_command_is_422_naming_the_commands(
    client: httpx.AsyncClient, queue: EventQueue
) -> None:
    response = await client.post(
        "/queue/events", json={"account_id": "DU1234567", "exec_command": "rebalance-all"}
    )

    assert response.status_code == 422
    assert "unknown command 'rebalance-all'" in reasons(response)
    assert "print-rebalance" in reasons(response)
    assert (await queue.counts()).active_events_count == 0


async def test_malformed_account_id_is_422(client: httpx.AsyncClient) -> None:
    for bad in ("du1234567", "DU 1234567", "1234567", "DU1234567\n", ""):
        response = await client.post(
            "/queue/events", json={"account_id": bad, "exec_command": "rebalance"}
        )

        assert response.status_code == 422, bad
        assert "is not an IB account id" in reasons(response)


async def test_missing_fields_are_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/queue/events", json={"account_id": "DU1234567"})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "exec_command"]


async def test_blank_strategy_name_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/queue/events",
        json={"account_id": "DU1234567", "exec_command": "rebalance", "strategy_name": "  "},
    )

    assert response.status_code == 422
    assert "strategy_name is blank" in reasons(response)


async def test_rebalance_of_an_account_not_traded_is_422(client: httpx.AsyncClient) -> None:
    unknown = await client.post(
        "/queue/events", json={"account_id": "DU9999999", "exec_command": "rebalance"}
    )
    disabled = await client.post(
        "/queue/events", json={"account_id": "DU5555555", "exec_command": "print-rebalance"}
    )
    live_in_paper_mode = await client.post(
        "/queue/events", json={"account_id": "U1234567", "exec_command": "rebalance"}
    )

    for response in (unknown, disabled, live_in_paper_mode):
        assert response.status_code == 422
    assert "account DU9999999 is not an enabled paper account in accounts.yaml" in reasons(unknown)
    assert "account DU5555555 is not an enabled paper account" in reasons(disabled)
    assert "account U1234567 is not an enabled paper account" in reasons(live_in_paper_mode)


async def test_read_only_command_for_an_unconfigured_account_is_queued_without_settings(
    client: httpx.AsyncClient, queue: EventQueue
) -> None:
    response = await client.post(
        "/queue/events", json={"account_id": "DU9999999", "exec_command": "print-positions"}
    )

    assert response.status_code == 201
    event = await queue.get(response.json()["event_id"])
    assert event is not None
    assert event.account is None and event.strategy_name is None


# --- DELETE /queue/events/{id} and /queue/events ------------------------------------------------


async def test_delete_removes_a_waiting_event(client: httpx.AsyncClient, queue: EventQueue) -> None:
    retry = await in_retry(queue, make_event("DU1234567", "rebalance"))

    response = await client.delete(f"/queue/events/{retry.event_id}")

    assert response.status_code == 200
    assert response.json() == {
        "message": f"Event {retry.event_id} removed successfully",
        "event_id": retry.event_id,
        "status": "deleted",
        "running": False,
    }
    assert await queue.get(retry.event_id) is None
    assert (await queue.counts()).active_events_count == 0


async def test_delete_of_a_running_event_says_it_stops_before_its_next_order_batch(
    client: httpx.AsyncClient, queue: EventQueue
) -> None:
    running = await taken(queue, make_event("DU1234567", "rebalance"))

    response = await client.delete(f"/queue/events/{running.event_id}")

    assert response.status_code == 200
    assert response.json()["status"] == "deleted_in_flight"
    assert response.json()["running"] is True
    assert "stops before its next order batch" in response.json()["message"]
    assert await queue.deleted_while_running(running.event_id)


async def test_delete_of_an_unknown_event_is_404(client: httpx.AsyncClient) -> None:
    response = await client.delete("/queue/events/5b0e9a52-0000-4000-8000-000000000000")

    assert response.status_code == 404
    assert response.json() == {
        "detail": "Event 5b0e9a52-0000-4000-8000-000000000000 not found in queue"
    }


async def test_clear_removes_every_waiting_event(
    client: httpx.AsyncClient, queue: EventQueue
) -> None:
    await in_retry(queue, make_event("DU7654321", "rebalance"))
    await delayed_to_open(queue, make_event("DU1234567", "print-rebalance"))
    await enqueued(queue, make_event("DU1234567", "rebalance"))

    response = await client.delete("/queue/events")

    assert response.status_code == 200
    assert response.json()["deleted_count"] == 3
    assert (await queue.counts()).active_events_count == 0


# --- POST /queue/events/{id}/retry --------------------------------------------------------------


async def test_retry_runs_a_waiting_event_next(
    client: httpx.AsyncClient, queue: EventQueue
) -> None:
    retry = await in_retry(queue, make_event("DU1234567", "rebalance"))
    await enqueued(queue, make_event("DU7654321", "print-equity"))

    response = await client.post(f"/queue/events/{retry.event_id}/retry")

    assert response.status_code == 200
    assert response.json()["status"] == "queued"
    ready = await queue.list_events(EventListType.ACTIVE)
    assert ready[0].event_id == retry.event_id
    assert (await queue.counts()).retry_events_count == 0


async def test_retry_of_a_delayed_event_runs_it_next(
    client: httpx.AsyncClient, queue: EventQueue
) -> None:
    delayed = await delayed_to_open(queue, make_event("DU1234567", "rebalance"))

    response = await client.post(f"/queue/events/{delayed.event_id}/retry")

    assert response.status_code == 200
    assert (await queue.counts()).delayed_events_count == 0


async def test_retry_of_an_event_not_waiting_is_409(
    client: httpx.AsyncClient, queue: EventQueue
) -> None:
    queued = await enqueued(queue, make_event("DU1234567", "rebalance"))

    response = await client.post(f"/queue/events/{queued.event_id}/retry")

    assert response.status_code == 409
    assert "is queued, not waiting" in response.json()["detail"]


async def test_retry_of_an_unknown_event_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/queue/events/no-such-event/retry")

    assert response.status_code == 404
