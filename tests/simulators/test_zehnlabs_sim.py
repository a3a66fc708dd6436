"""The real `zehnlabs-sim` entry point, driven the way the broker, the processor and tests use it:
Socket.IO clients for the event stream, HTTP for the allocations and control APIs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio

from tests.simulators.zehnlabs_helpers import (
    API_KEY,
    ETF_BLEND,
    SIM_SCRIPT,
    TREASURY,
    Sim,
    reset,
    start_sim,
)

SEEDED_LAST_REBALANCE_ON = "2026-01-02T20:45:00Z"
# Generous for a loaded CI machine, yet a broken test fails in seconds, not minutes.
WAIT = 5.0


@pytest.fixture(scope="module")
def running_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    # One process for the module keeps the file fast; each test starts from `reset`.
    sim = start_sim(tmp_path_factory.mktemp("zehnlabs-sim"), "--hang-seconds", "10")
    yield sim
    sim.process.stop()


@pytest.fixture
def sim(running_sim: Sim) -> Sim:
    return reset(running_sim)


@dataclass
class StreamClient:
    """A Socket.IO client that subscribes after every (re)connect, like the broker."""

    sio: Any  # socketio.AsyncClient: the library is untyped
    strategies: list[str]
    events: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    acks: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    disconnects: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)

    async def next_event(self) -> Any:
        return await asyncio.wait_for(self.events.get(), WAIT)

    async def next_ack(self) -> Any:
        return await asyncio.wait_for(self.acks.get(), WAIT)


@contextlib.asynccontextmanager
async def stream_client(
    sim: Sim,
    strategies: list[str],
    *,
    reconnection: bool = False,
    transports: list[str] | None = None,
) -> AsyncIterator[StreamClient]:
    sio = socketio.AsyncClient(
        reconnection=reconnection,
        reconnection_delay=0.05,
        reconnection_delay_max=0.2,
        randomization_factor=0,
        handle_sigint=False,
    )
    client = StreamClient(sio=sio, strategies=strategies)

    async def on_connect() -> None:
        client.acks.put_nowait(
            await sio.call("subscribe", {"strategies": strategies}, timeout=WAIT)
        )

    async def on_event(*args: Any) -> None:
        client.events.put_nowait(args[0] if args else None)

    async def on_disconnect(*args: Any) -> None:
        client.disconnects.put_nowait(args[0] if args else None)

    sio.on("connect", on_connect)
    sio.on("event", on_event)
    sio.on("disconnect", on_disconnect)
    await sio.connect(sim.url, auth={"api_key": API_KEY}, transports=transports, wait_timeout=WAIT)
    try:
        yield client
    finally:
        await sio.disconnect()


async def publish(http: httpx.AsyncClient, strategy: str, **body: Any) -> dict[str, Any]:
    response = await http.post(f"/control/strategies/{strategy}/events", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def allocations(http: httpx.AsyncClient, strategy: str) -> dict[str, Any]:
    response = await http.get(
        f"/api/v1/strategies/{strategy}/allocations", headers={"x-api-key": API_KEY}
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def set_fault(http: httpx.AsyncClient, **body: Any) -> None:
    response = await http.put("/control/allocations-fault", json=body)
    assert response.status_code == 200, response.text


async def state_until(http: httpx.AsyncClient, key: str, expected: Any) -> None:
    """Wait until `GET /control/state` shows `expected` under `key` (the server's own view)."""
    for _ in range(int(WAIT / 0.01)):
        if (await http.get("/control/state")).json()[key] == expected:
            return
        await asyncio.sleep(0.01)
    raise TimeoutError(f"control state {key} never became {expected!r}")


# -- the event stream -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("auth", "reason"),
    [
        ({"api_key": "zl-stolen-key"}, "invalid API key"),
        ({"token": API_KEY}, "missing API key"),
        (None, "missing API key"),
    ],
)
async def test_a_wrong_or_missing_key_is_refused_with_connect_error(
    sim: Sim, auth: dict[str, str] | None, reason: str
) -> None:
    sio = socketio.AsyncClient(reconnection=False, handle_sigint=False)
    refusals: list[Any] = []

    async def on_connect_error(data: Any = None) -> None:
        refusals.append(data)

    sio.on("connect_error", on_connect_error)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await sio.connect(sim.url, auth=auth, wait_timeout=WAIT)
    assert len(refusals) == 1
    assert refusals[0]["message"].startswith(reason)
    assert not sio.connected
    await sio.disconnect()


async def test_subscribe_is_acknowledged_with_every_strategy_of_the_session(sim: Sim) -> None:
    async with stream_client(sim, [ETF_BLEND]) as client, sim.http() as http:
        assert await client.next_ack() == {
            "status": "success",
            "strategies": [ETF_BLEND],
            "unknown": [],
        }
        ack = await client.sio.call(
            "subscribe", {"strategies": [TREASURY, "tqqq-typo"]}, timeout=WAIT
        )
        assert ack == {
            "status": "success",
            "strategies": [ETF_BLEND, TREASURY, "tqqq-typo"],
            "unknown": ["tqqq-typo"],
        }
        state = (await http.get("/control/state")).json()
        assert [c["subscriptions"] for c in state["clients"]] == [
            [ETF_BLEND, TREASURY, "tqqq-typo"]
        ]


@pytest.mark.parametrize("payload", [ETF_BLEND, {"strategies": ETF_BLEND}, {"strategies": [""]}])
async def test_a_malformed_subscribe_is_acknowledged_with_an_error(sim: Sim, payload: Any) -> None:
    async with stream_client(sim, []) as client:
        await client.next_ack()
        ack = await client.sio.call("subscribe", payload, timeout=WAIT)
        assert ack["status"] == "error"
        assert "strategies" in ack["message"]


async def test_an_event_reaches_only_the_subscribers_of_its_strategy(sim: Sim) -> None:
    async with (
        stream_client(sim, [ETF_BLEND]) as blend_follower,
        stream_client(sim, [TREASURY]) as treasury_follower,
        sim.http() as http,
    ):
        await blend_follower.next_ack()
        await treasury_follower.next_ack()

        sent = await publish(http, ETF_BLEND, exec="rebalance", note="month-end")
        assert sent["delivered_to"] == 1
        assert await blend_follower.next_event() == {
            "id": sent["id"],
            "strategy": ETF_BLEND,
            "exec": "rebalance",
            "note": "month-end",
        }

        # Emits are ordered per connection: had the treasury follower received the blend event,
        # it would come first.
        second = await publish(http, TREASURY, exec="print-positions", id="fixed-id-1")
        assert second == {"id": "fixed-id-1", "delivered_to": 1}
        assert await treasury_follower.next_event() == {
            "id": "fixed-id-1",
            "strategy": TREASURY,
            "exec": "print-positions",
        }
        assert blend_follower.events.empty()


async def test_a_rebalance_moves_last_rebalance_on_to_now_and_other_commands_do_not(
    sim: Sim,
) -> None:
    async with sim.http() as http:
        await publish(http, ETF_BLEND, exec="print-rebalance")
        before = (await allocations(http, ETF_BLEND))["data"]["last_rebalance_on"]
        assert before == SEEDED_LAST_REBALANCE_ON

        await publish(http, ETF_BLEND, exec="rebalance")
        first = (await allocations(http, ETF_BLEND))["data"]["last_rebalance_on"]
        moved_to = datetime.strptime(first, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert abs(datetime.now(UTC) - moved_to) < timedelta(seconds=5)

        # A second rebalance in the same second still looks different to a client.
        await publish(http, ETF_BLEND, exec="rebalance")
        second = (await allocations(http, ETF_BLEND))["data"]["last_rebalance_on"]
        assert second > first
        other = (await allocations(http, TREASURY))["data"]["last_rebalance_on"]
        assert other == SEEDED_LAST_REBALANCE_ON


async def test_redeliver_sends_the_last_event_again_with_the_same_id(sim: Sim) -> None:
    async with stream_client(sim, [ETF_BLEND]) as client, sim.http() as http:
        await client.next_ack()
        sent = await publish(http, ETF_BLEND, exec="rebalance")
        first = await client.next_event()
        stamp = (await allocations(http, ETF_BLEND))["data"]["last_rebalance_on"]

        response = await http.post(f"/control/strategies/{ETF_BLEND}/redeliver")
        assert response.json() == {"id": sent["id"], "delivered_to": 1}
        assert await client.next_event() == first
        # A redelivery is the same event, not a new rebalance.
        assert (await allocations(http, ETF_BLEND))["data"]["last_rebalance_on"] == stamp

        kinds = [e["kind"] for e in (await http.get("/control/state")).json()["events"]]
        assert kinds == ["event", "redelivery"]


async def test_publish_and_redeliver_answer_404_for_what_does_not_exist(sim: Sim) -> None:
    async with sim.http() as http:
        unknown = await http.post("/control/strategies/no-such/events", json={"exec": "rebalance"})
        assert unknown.status_code == 404
        assert unknown.json()["status"] == "error"
        assert (await http.post("/control/strategies/no-such/redeliver")).status_code == 404
        nothing_yet = await http.post(f"/control/strategies/{ETF_BLEND}/redeliver")
        assert nothing_yet.status_code == 404
        assert "no event" in nothing_yet.json()["message"]


async def test_nothing_is_kept_for_a_client_that_was_away(sim: Sim) -> None:
    async with sim.http() as http:
        async with stream_client(sim, [ETF_BLEND]) as client:
            await client.next_ack()
        await state_until(http, "clients", [])
        missed = await publish(http, ETF_BLEND, exec="rebalance")
        assert missed["delivered_to"] == 0

        async with stream_client(sim, [ETF_BLEND]) as client:
            await client.next_ack()
            sent = await publish(http, ETF_BLEND, exec="rebalance")
            assert (await client.next_event())["id"] == sent["id"]


@pytest.mark.parametrize("transports", [None, ["websocket"], ["polling"]])
async def test_disconnect_all_drops_clients_who_reconnect_and_subscribe_again(
    sim: Sim, transports: list[str] | None
) -> None:
    async with (
        stream_client(sim, [ETF_BLEND], reconnection=True, transports=transports) as client,
        sim.http() as http,
    ):
        await client.next_ack()
        response = await http.post("/control/disconnect-all")
        assert response.json() == {"disconnected": 1, "mode": "drop"}
        await asyncio.wait_for(client.disconnects.get(), WAIT)

        assert (await client.next_ack())["strategies"] == [ETF_BLEND]
        sent = await publish(http, ETF_BLEND, exec="rebalance")
        assert sent["delivered_to"] == 1
        assert (await client.next_event())["id"] == sent["id"]


async def test_disconnect_all_in_server_mode_sends_a_socketio_disconnect(sim: Sim) -> None:
    async with stream_client(sim, [ETF_BLEND], reconnection=True) as client, sim.http() as http:
        await client.next_ack()
        response = await http.post("/control/disconnect-all", params={"mode": "server"})
        assert response.json() == {"disconnected": 1, "mode": "server"}
        assert await asyncio.wait_for(client.disconnects.get(), WAIT) == "server disconnect"
        assert (await http.get("/control/state")).json()["clients"] == []


async def test_raw_emits_any_json_verbatim_as_many_times_as_asked(sim: Sim) -> None:
    async with stream_client(sim, [ETF_BLEND]) as client, sim.http() as http:
        await client.next_ack()
        garbage = ["not", {"an": "event"}, None]
        response = await http.post(
            f"/control/strategies/{ETF_BLEND}/raw", params={"count": 1000}, json=garbage
        )
        assert response.json() == {"count": 1000, "delivered_to": 1}
        received = [await client.next_event() for _ in range(1000)]
        assert received == [garbage] * 1000

        # An empty body emits `event` with no argument at all.
        await http.post(f"/control/strategies/{ETF_BLEND}/raw")
        assert await client.next_event() is None
        published = (await http.get("/control/state")).json()["events"]
        assert [(e["kind"], e["count"]) for e in published] == [("raw", 1000), ("raw", 1)]


# -- the allocations API --------------------------------------------------------------------


async def test_allocations_answer_exactly_like_zehnlabs(sim: Sim) -> None:
    async with sim.http() as http:
        assert await allocations(http, TREASURY) == {
            "status": "success",
            "data": {
                "name": TREASURY,
                "strategy_long_name": "Demo Treasury Rotation (TLT/IEF/BIL)",
                "last_rebalance_on": SEEDED_LAST_REBALANCE_ON,
                "allocations": [
                    {"symbol": "TLT", "allocation": 0.45},
                    {"symbol": "IEF", "allocation": 0.35},
                    {"symbol": "BIL", "allocation": 0.2},
                ],
            },
        }
        blend = (await allocations(http, ETF_BLEND))["data"]["allocations"]
        assert {a["symbol"] for a in blend} == {"SPY", "QQQ", "TLT", "IEF", "GLD"}
        assert sum(a["allocation"] for a in blend) <= 1.0


@pytest.mark.parametrize(
    ("headers", "strategy", "status"),
    [
        ({}, ETF_BLEND, 401),
        ({"x-api-key": "zl-stolen-key"}, ETF_BLEND, 401),
        ({"x-api-key": "zl-stolen-key"}, "no-such-strategy", 401),
        ({"x-api-key": API_KEY}, "no-such-strategy", 404),
        ({"X-API-KEY": API_KEY}, ETF_BLEND, 200),
    ],
)
async def test_allocations_refuse_a_wrong_key_and_an_unknown_strategy(
    sim: Sim, headers: dict[str, str], strategy: str, status: int
) -> None:
    async with sim.http() as http:
        response = await http.get(f"/api/v1/strategies/{strategy}/allocations", headers=headers)
        assert response.status_code == status
        body = response.json()
        if status == 200:
            assert body["status"] == "success"
        else:
            assert body["status"] == "error"
            assert body["message"]


async def test_http_500_fault(sim: Sim) -> None:
    async with sim.http() as http:
        await set_fault(http, mode="http_500")
        response = await http.get(
            f"/api/v1/strategies/{ETF_BLEND}/allocations", headers={"x-api-key": API_KEY}
        )
        assert response.status_code == 500
        assert response.json()["status"] == "error"
        await set_fault(http, mode=None)
        await allocations(http, ETF_BLEND)


async def test_malformed_json_fault(sim: Sim) -> None:
    async with sim.http() as http:
        await set_fault(http, mode="malformed_json")
        response = await http.get(
            f"/api/v1/strategies/{ETF_BLEND}/allocations", headers={"x-api-key": API_KEY}
        )
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        with pytest.raises(json.JSONDecodeError):
            json.loads(response.text)


async def test_overweight_fault_serves_weights_summing_to_1_3(sim: Sim) -> None:
    async with sim.http() as http:
        await set_fault(http, mode="overweight")
        served = (await allocations(http, ETF_BLEND))["data"]["allocations"]
        assert [a["symbol"] for a in served] == ["SPY", "QQQ", "TLT", "IEF", "GLD"]
        assert math.isclose(sum(a["allocation"] for a in served), 1.3)


async def test_timeout_fault_hangs_without_blocking_anything_else(sim: Sim) -> None:
    async with sim.http() as http:
        await set_fault(http, mode="timeout", strategy=ETF_BLEND)
        with pytest.raises(httpx.ReadTimeout):
            await http.get(
                f"/api/v1/strategies/{ETF_BLEND}/allocations",
                headers={"x-api-key": API_KEY},
                timeout=0.3,
            )
        hanging = asyncio.create_task(allocations(http, ETF_BLEND))
        # Other strategies, the control API and the stream keep answering meanwhile.
        await allocations(http, TREASURY)
        assert (await http.get("/control/state")).status_code == 200
        assert not hanging.done()
        # Clearing the fault releases the hanging request, which is then answered normally.
        await set_fault(http, mode=None)
        assert (await asyncio.wait_for(hanging, WAIT))["status"] == "success"


async def test_a_fault_can_target_one_strategy_for_a_number_of_requests(sim: Sim) -> None:
    async with sim.http() as http:
        await set_fault(http, mode="http_500", strategy=ETF_BLEND, times=2)
        url = f"/api/v1/strategies/{ETF_BLEND}/allocations"
        headers = {"x-api-key": API_KEY}
        statuses = [(await http.get(url, headers=headers)).status_code for _ in range(3)]
        assert statuses == [500, 500, 200]
        await allocations(http, TREASURY)
        state = (await http.get("/control/state")).json()
        assert state["allocations_requests"] == {ETF_BLEND: 3, TREASURY: 1}
        assert state["allocations_faults"] == []


# -- the control API ------------------------------------------------------------------------


async def test_setting_allocations_creates_a_strategy_without_moving_last_rebalance_on(
    sim: Sim,
) -> None:
    async with sim.http() as http:
        body = {
            "allocations": [
                {"symbol": "SPY", "allocation": 0.6},
                {"symbol": "AGG", "allocation": 0.4},
            ]
        }
        created = await http.put("/control/strategies/sixty-forty/allocations", json=body)
        assert created.status_code == 201
        served = (await allocations(http, "sixty-forty"))["data"]
        assert served["allocations"] == body["allocations"]
        assert served["last_rebalance_on"] == SEEDED_LAST_REBALANCE_ON

        body["allocations"] = [{"symbol": "SPY", "allocation": 1.0}]
        updated = await http.put("/control/strategies/sixty-forty/allocations", json=body)
        assert updated.status_code == 200
        assert updated.json()["last_rebalance_on"] == SEEDED_LAST_REBALANCE_ON

        touched = await http.put(
            "/control/strategies/sixty-forty/allocations", json={**body, "touch": True}
        )
        assert touched.json()["last_rebalance_on"] > SEEDED_LAST_REBALANCE_ON


async def test_a_strategy_can_be_created_updated_and_deleted(sim: Sim) -> None:
    async with sim.http() as http:
        created = await http.put(
            "/control/strategies/gold-only",
            json={"strategy_long_name": "Gold Only", "last_rebalance_on": "2026-11-20T20:50:00Z"},
        )
        assert created.status_code == 201
        assert created.json() == {
            "name": "gold-only",
            "strategy_long_name": "Gold Only",
            "last_rebalance_on": "2026-11-20T20:50:00Z",
            "allocations": [],
        }
        updated = await http.put(
            "/control/strategies/gold-only",
            json={"allocations": [{"symbol": "GLD", "allocation": 0.95}]},
        )
        assert updated.status_code == 200
        assert updated.json()["strategy_long_name"] == "Gold Only"
        assert (await http.delete("/control/strategies/gold-only")).status_code == 200
        assert (await http.delete("/control/strategies/gold-only")).status_code == 404


async def test_unchecked_allocations_are_served_as_given(sim: Sim) -> None:
    async with sim.http() as http:
        odd = [{"symbol": "SPY", "allocation": -0.1}, {"symbol": "SPY", "allocation": 0.5}]
        response = await http.put(
            f"/control/strategies/{ETF_BLEND}/allocations",
            json={"allocations": odd, "unchecked": True},
        )
        assert response.status_code == 200
        assert (await allocations(http, ETF_BLEND))["data"]["allocations"] == odd


async def test_reset_restores_the_seeded_strategies(sim: Sim) -> None:
    async with sim.http() as http:
        await http.delete(f"/control/strategies/{TREASURY}")
        await publish(http, ETF_BLEND, exec="rebalance")
        await set_fault(http, mode="http_500")
        state = (await http.post("/control/reset")).json()
        assert sorted(state["strategies"]) == [ETF_BLEND, TREASURY]
        assert state["strategies"][ETF_BLEND]["last_rebalance_on"] == SEEDED_LAST_REBALANCE_ON
        assert state["events"] == []
        assert state["allocations_faults"] == []


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", f"/control/strategies/{ETF_BLEND}/allocations", {}),
        ("PUT", f"/control/strategies/{ETF_BLEND}/allocations", "not json"),
        (
            "PUT",
            f"/control/strategies/{ETF_BLEND}/allocations",
            {"allocations": [{"symbol": "SPY", "allocation": "0.5"}]},
        ),
        (
            "PUT",
            f"/control/strategies/{ETF_BLEND}/allocations",
            {
                "allocations": [
                    {"symbol": "SPY", "allocation": 0.8},
                    {"symbol": "TLT", "allocation": 0.5},
                ]
            },
        ),
        (
            "PUT",
            f"/control/strategies/{ETF_BLEND}/allocations",
            {"allocations": [{"symbol": "", "allocation": 0.5}]},
        ),
        (
            "PUT",
            f"/control/strategies/{ETF_BLEND}/allocations",
            {"allocations": [{"symbol": "SPY", "allocation": 0.5, "price": 1}]},
        ),
        ("PUT", f"/control/strategies/{ETF_BLEND}", {"last_rebalance_on": "yesterday"}),
        ("PUT", f"/control/strategies/{ETF_BLEND}", {"last_rebalance_on": "2026-11-20T20:50:00"}),
        ("POST", f"/control/strategies/{ETF_BLEND}/events", {}),
        ("POST", f"/control/strategies/{ETF_BLEND}/events", {"exec": ""}),
        ("POST", f"/control/strategies/{ETF_BLEND}/events", {"exec": "rebalance", "id": 7}),
        (
            "POST",
            f"/control/strategies/{ETF_BLEND}/events",
            {"exec": "rebalance", "strategy": TREASURY},
        ),
        ("POST", f"/control/strategies/{ETF_BLEND}/raw?count=0", None),
        ("POST", f"/control/strategies/{ETF_BLEND}/raw", "{broken"),
        ("POST", "/control/disconnect-all?mode=politely", None),
        ("PUT", "/control/allocations-fault", {"mode": "slow"}),
        ("PUT", "/control/allocations-fault", {}),
        ("PUT", "/control/allocations-fault", {"mode": "http_500", "times": 0}),
    ],
)
async def test_bad_control_input_is_refused_with_422_and_a_reason(
    sim: Sim, method: str, path: str, body: Any
) -> None:
    content = body if isinstance(body, str) else (b"" if body is None else json.dumps(body))
    async with sim.http() as http:
        response = await http.request(method, path, content=content)
        assert response.status_code == 422, response.text
        answer = response.json()
        assert answer["status"] == "error"
        assert answer["message"]
        assert answer["errors"]


# -- the process ----------------------------------------------------------------------------


async def test_sigterm_stops_cleanly_with_clients_and_hanging_requests(tmp_path: Path) -> None:
    sim = start_sim(tmp_path)
    proc = sim.process.proc
    assert proc is not None
    try:
        async with stream_client(sim, [ETF_BLEND]) as client, sim.http() as http:
            await client.next_ack()
            await set_fault(http, mode="timeout")
            hanging = asyncio.create_task(allocations_status(http))
            await state_until(http, "allocations_requests", {ETF_BLEND: 1})

            proc.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(proc.wait, WAIT) == 0, sim.process.log_text()
            # The hanging request is released with its 504 rather than holding the shutdown.
            assert await asyncio.wait_for(hanging, WAIT) == 504
            await asyncio.wait_for(client.disconnects.get(), WAIT)
    finally:
        sim.process.stop()
    assert "zehnlabs_sim.stopped" in sim.process.log_text()


async def allocations_status(http: httpx.AsyncClient) -> int | None:
    """Status of an allocations request, None when the server went away before answering."""
    try:
        response = await http.get(
            f"/api/v1/strategies/{ETF_BLEND}/allocations", headers={"x-api-key": API_KEY}
        )
    except httpx.TransportError:
        return None
    return response.status_code


async def test_config_file_seeds_the_strategies(tmp_path: Path) -> None:
    config = tmp_path / "strategies.json"
    config.write_text(
        json.dumps(
            {
                "strategies": [
                    {
                        "name": "all-weather",
                        "strategy_long_name": "All Weather",
                        "last_rebalance_on": "2026-10-30T19:55:00Z",
                        "allocations": [
                            {"symbol": "VTI", "allocation": 0.3},
                            {"symbol": "TLT", "allocation": 0.4},
                            {"symbol": "IEF", "allocation": 0.15},
                            {"symbol": "GLD", "allocation": 0.075},
                            {"symbol": "DBC", "allocation": 0.075},
                        ],
                    }
                ]
            }
        )
    )
    sim = start_sim(tmp_path, "--config", str(config))
    try:
        async with sim.http() as http:
            data = (await allocations(http, "all-weather"))["data"]
            assert data["last_rebalance_on"] == "2026-10-30T19:55:00Z"
            assert len(data["allocations"]) == 5
            state = (await http.get("/control/state")).json()
            assert list(state["strategies"]) == ["all-weather"]
    finally:
        sim.process.stop()


def test_an_invalid_config_stops_the_start_naming_file_entry_and_field(tmp_path: Path) -> None:
    config = tmp_path / "strategies.json"
    config.write_text(
        json.dumps(
            {
                "strategies": [
                    {"name": "ok", "allocations": []},
                    {"name": "bad", "allocations": [{"symbol": "SPY", "allocation": "lots"}]},
                ]
            }
        )
    )
    result = subprocess.run(
        [str(SIM_SCRIPT), "--api-key", API_KEY, "--port", "0", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert f"{config}: strategies[1] field allocations.0.allocation" in result.stderr


def test_help_documents_every_flag_and_the_key_is_required() -> None:
    help_text = subprocess.run(
        [str(SIM_SCRIPT), "--help"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    for flag in (
        "--host",
        "--port",
        "--api-key",
        "--allocations-api-key",
        "--config",
        "--hang-seconds",
        "--ably-max-idle-interval-ms",
        "--ably-connection-state-ttl-ms",
        "--log-level",
    ):
        assert flag in help_text
    no_key = subprocess.run(
        [str(SIM_SCRIPT)],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert no_key.returncode == 2
    assert "--api-key is required" in no_key.stderr
