"""The Ably endpoint of the real `zehnlabs-sim` process, driven by the unmodified `ably` SDK
(AblyRealtime, asyncio) over a real socket, in both of the SDK's formats: JSON text frames
(`use_binary_protocol=False`) and msgpack binary frames (the SDK's default)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio
from ably import AblyRealtime
from ably.types.channelstate import ChannelState
from ably.types.connectionstate import ConnectionState
from ably.util.exceptions import AblyException

from tests.simulators.zehnlabs_helpers import API_KEY, ETF_BLEND, TREASURY, Sim, reset, start_sim

# Short, so the heartbeat test sees the idle timeout it prevents within a few seconds.
MAX_IDLE_INTERVAL_MS = 600
IDLE = ("--ably-max-idle-interval-ms", str(MAX_IDLE_INTERVAL_MS))
# Generous for a loaded machine; every wait ends as soon as its condition holds.
WAIT = 10.0

FORMATS = pytest.mark.parametrize("binary", [False, True], ids=["json", "msgpack"])


@pytest.fixture(scope="module")
def running_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    sim = start_sim(
        tmp_path_factory.mktemp("zehnlabs-ably"),
        *IDLE,
    )
    yield sim
    sim.process.stop()


@pytest.fixture
def sim(running_sim: Sim) -> Sim:
    return reset(running_sim)


# -- the SDK client ---------------------------------------------------------------------------


@dataclass
class Client:
    realtime: Any  # AblyRealtime: the SDK is untyped
    changes: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)

    @property
    def connection_id(self) -> str | None:
        connection_id: str | None = self.realtime.connection.connection_manager.connection_id
        return connection_id

    async def reaches(self, state: ConnectionState) -> Any:
        """The next connection state change into `state` (others are passed over)."""
        while True:
            change = await asyncio.wait_for(self.changes.get(), WAIT)
            if change.current == state:
                return change


@dataclass
class Subscription:
    channel: Any
    messages: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    changes: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)

    async def next_message(self) -> Any:
        return await asyncio.wait_for(self.messages.get(), WAIT)

    async def reaches(self, state: ChannelState) -> Any:
        while True:
            change = await asyncio.wait_for(self.changes.get(), WAIT)
            if change.current == state:
                return change


@contextlib.asynccontextmanager
async def ably_client(
    sim: Sim, binary: bool, *, key: str = API_KEY, request_timeout_ms: int = 5000
) -> AsyncIterator[Client]:
    realtime = AblyRealtime(
        key=key,
        endpoint=f"127.0.0.1:{sim.port}",
        tls=False,
        use_binary_protocol=binary,
        auto_connect=False,
        fallback_hosts=[],
        realtime_request_timeout=request_timeout_ms,
        disconnected_retry_timeout=100,
        suspended_retry_timeout=100,
        channel_retry_timeout=100,
    )
    client = Client(realtime)
    realtime.connection.on(client.changes.put_nowait)
    realtime.connect()
    try:
        yield client
    finally:
        await asyncio.wait_for(realtime.close(), WAIT)


async def connected(client: Client) -> Any:
    return await client.reaches(ConnectionState.CONNECTED)


async def subscribe(client: Client, name: str) -> Subscription:
    channel = client.realtime.channels.get(name)
    subscription = Subscription(channel)
    channel.on(subscription.changes.put_nowait)
    await asyncio.wait_for(channel.subscribe(subscription.messages.put_nowait), WAIT)
    # Past the first attach, so that `reaches` sees what comes after it.
    await subscription.reaches(ChannelState.ATTACHED)
    return subscription


# -- the control API --------------------------------------------------------------------------


async def publish(http: httpx.AsyncClient, strategy: str, **body: Any) -> dict[str, Any]:
    response = await http.post(f"/control/strategies/{strategy}/events", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def raw(http: httpx.AsyncClient, strategy: str, body: Any, **params: Any) -> None:
    # json.dumps, not httpx's json=: it escapes a lone surrogate instead of failing on it.
    response = await http.post(
        f"/control/strategies/{strategy}/raw",
        params=params,
        content=json.dumps(body),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200, response.text


async def control(http: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> Any:
    response = await http.request(method, path, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


async def ably_clients(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    state = await control(http, "GET", "/control/state")
    return [c for c in state["clients"] if c["transport"] == "ably"]


async def until(condition: Any, what: str) -> None:
    """Poll an async condition until it holds (the server's own view, no sleeps to guess)."""
    for _ in range(int(WAIT / 0.02)):
        if await condition():
            return
        await asyncio.sleep(0.02)
    raise TimeoutError(f"timed out waiting for {what}")


# -- connecting and receiving -----------------------------------------------------------------


@FORMATS
async def test_a_subscriber_gets_a_published_event_with_its_id_name_and_data(
    sim: Sim, binary: bool
) -> None:
    async with ably_client(sim, binary) as client, sim.http() as http:
        await connected(client)
        blend = await subscribe(client, ETF_BLEND)
        sent = await publish(http, ETF_BLEND, exec="rebalance", note="month-end")
        assert sent["delivered_to"] == 1
        message = await blend.next_message()
        assert message.id == sent["id"]
        assert message.name == "rebalance"
        assert message.data == {"exec": "rebalance", "note": "month-end"}

        state = await ably_clients(http)
        assert state == [
            {
                "transport": "ably",
                "connection_id": client.connection_id,
                "connected_at": state[0]["connected_at"],
                "format": "msgpack" if binary else "json",
                "subscriptions": [ETF_BLEND],
                "heartbeats_sent": state[0]["heartbeats_sent"],
            }
        ]


@FORMATS
async def test_one_publish_reaches_socketio_and_ably_with_the_same_id(
    sim: Sim, binary: bool
) -> None:
    sio = socketio.AsyncClient(reconnection=False, handle_sigint=False)
    socketio_events: asyncio.Queue[Any] = asyncio.Queue()
    sio.on("event", socketio_events.put_nowait)
    await sio.connect(sim.url, auth={"api_key": API_KEY}, wait_timeout=WAIT)
    try:
        await sio.call("subscribe", {"strategies": [ETF_BLEND]}, timeout=WAIT)
        async with ably_client(sim, binary) as client, sim.http() as http:
            await connected(client)
            blend = await subscribe(client, ETF_BLEND)
            sent = await publish(http, ETF_BLEND, exec="print-positions", id="evt-fixed-1")
            assert sent == {"id": "evt-fixed-1", "delivered_to": 2}
            assert (await asyncio.wait_for(socketio_events.get(), WAIT))["id"] == "evt-fixed-1"
            assert (await blend.next_message()).id == "evt-fixed-1"

            again = await control(http, "POST", f"/control/strategies/{ETF_BLEND}/redeliver")
            assert again == {"id": "evt-fixed-1", "delivered_to": 2}
            redelivered = await blend.next_message()
            assert (redelivered.id, redelivered.name) == ("evt-fixed-1", "print-positions")
            assert redelivered.data == {"exec": "print-positions"}
    finally:
        await sio.disconnect()


@FORMATS
async def test_a_wrong_key_fails_the_connection_with_40101(sim: Sim, binary: bool) -> None:
    async with ably_client(sim, binary, key="zlsim.subscriber:stolen") as client:
        change = await client.reaches(ConnectionState.FAILED)
        assert change.reason.code == 40101
        assert change.reason.status_code == 401
    # Refused keys are never logged.
    assert "stolen" not in sim.process.log_text()


@FORMATS
async def test_a_denied_channel_fails_with_40160_and_other_channels_still_work(
    sim: Sim, binary: bool
) -> None:
    async with ably_client(sim, binary) as client, sim.http() as http:
        answer = await control(http, "PUT", "/control/ably", json={"denied_channels": [TREASURY]})
        assert answer["denied_channels"] == [TREASURY]
        await connected(client)
        treasury = client.realtime.channels.get(TREASURY)
        with pytest.raises(AblyException) as refused:
            await asyncio.wait_for(treasury.attach(), WAIT)
        assert refused.value.code == 40160
        assert treasury.state == ChannelState.FAILED

        blend = await subscribe(client, ETF_BLEND)
        sent = await publish(http, ETF_BLEND, exec="rebalance")
        assert (await blend.next_message()).id == sent["id"]

        # A reset lifts the denial.
        await control(http, "POST", "/control/reset")
        assert (await control(http, "GET", "/control/ably"))["denied_channels"] == []
        await asyncio.wait_for(treasury.attach(), WAIT)
        assert treasury.state == ChannelState.ATTACHED


# -- continuity -------------------------------------------------------------------------------


@FORMATS
async def test_after_a_drop_the_client_resumes_and_gets_what_it_missed_exactly_once(
    sim: Sim, binary: bool
) -> None:
    async with ably_client(sim, binary) as client, sim.http() as http:
        await connected(client)
        first_id = client.connection_id
        blend = await subscribe(client, ETF_BLEND)

        # Keep the client away while publishing: refuse its reconnects until then.
        await control(http, "PUT", "/control/ably", json={"refuse_connections": True})
        dropped = await control(http, "POST", "/control/disconnect-all", params={"mode": "drop"})
        assert dropped == {"disconnected": 1, "mode": "drop"}
        await client.reaches(ConnectionState.DISCONNECTED)
        missed = await publish(http, ETF_BLEND, exec="rebalance")
        assert missed["delivered_to"] == 0
        await control(http, "PUT", "/control/ably", json={"refuse_connections": False})

        back = await connected(client)
        assert back.reason is None
        assert client.connection_id == first_id
        assert (await blend.reaches(ChannelState.ATTACHED)).resumed
        assert (await blend.next_message()).id == missed["id"]
        # Messages keep their order per connection: a duplicate would come before this one.
        after = await publish(http, ETF_BLEND, exec="print-rebalance")
        assert (await blend.next_message()).id == after["id"]
        assert blend.messages.empty()


@FORMATS
async def test_a_message_published_during_an_immediate_reconnect_arrives_once(
    sim: Sim, binary: bool
) -> None:
    async with ably_client(sim, binary) as client, sim.http() as http:
        await connected(client)
        blend = await subscribe(client, ETF_BLEND)
        await control(http, "POST", "/control/disconnect-all")
        # Whether this lands before, during or after the resume, it arrives once.
        during = await publish(http, ETF_BLEND, exec="rebalance")
        await connected(client)
        assert (await blend.next_message()).id == during["id"]
        after = await publish(http, ETF_BLEND, exec="print-rebalance")
        assert (await blend.next_message()).id == after["id"]


@FORMATS
async def test_a_server_disconnect_is_resumed(sim: Sim, binary: bool) -> None:
    async with ably_client(sim, binary) as client, sim.http() as http:
        await connected(client)
        first_id = client.connection_id
        blend = await subscribe(client, ETF_BLEND)
        answer = await control(http, "POST", "/control/disconnect-all", params={"mode": "server"})
        assert answer == {"disconnected": 1, "mode": "server"}
        assert (await client.reaches(ConnectionState.DISCONNECTED)).reason.code == 80003
        await connected(client)
        assert client.connection_id == first_id
        sent = await publish(http, ETF_BLEND, exec="rebalance")
        assert (await blend.next_message()).id == sent["id"]


@FORMATS
async def test_after_expire_the_connection_is_new_with_80008_and_channels_attach_unresumed(
    sim: Sim, binary: bool
) -> None:
    async with ably_client(sim, binary) as client, sim.http() as http:
        await connected(client)
        first_id = client.connection_id
        blend = await subscribe(client, ETF_BLEND)
        await control(http, "PUT", "/control/ably", json={"refuse_connections": True})
        answer = await control(http, "POST", "/control/disconnect-all", params={"mode": "expire"})
        assert answer == {"disconnected": 1, "mode": "expire"}
        await client.reaches(ConnectionState.DISCONNECTED)
        assert (await control(http, "GET", "/control/ably"))["resumable"] == []
        missed = await publish(http, ETF_BLEND, exec="rebalance")
        await control(http, "PUT", "/control/ably", json={"refuse_connections": False})

        back = await connected(client)
        assert back.reason.code == 80008
        assert client.connection_id != first_id
        assert not (await blend.reaches(ChannelState.ATTACHED)).resumed
        later = await publish(http, ETF_BLEND, exec="print-rebalance")
        # The missed message is gone (continuity lost); the next one arrives.
        assert (await blend.next_message()).id == later["id"]
        assert missed["id"] != later["id"]


@FORMATS
async def test_after_a_simulator_restart_the_connection_is_new_with_80008(
    tmp_path: Path, binary: bool
) -> None:
    sim = start_sim(tmp_path, *IDLE, name="zehnlabs-sim-1")
    try:
        # The SDK notices a refused TCP connection only when its request timeout ends the
        # attempt, so a short one keeps the wait for the new process short.
        async with ably_client(sim, binary, request_timeout_ms=1500) as client:
            await connected(client)
            first_id = client.connection_id
            blend = await subscribe(client, ETF_BLEND)
            sim.process.stop()
            await client.reaches(ConnectionState.DISCONNECTED)
            sim = start_sim(tmp_path, *IDLE, port=sim.port, name="zehnlabs-sim-2")

            back = await connected(client)
            assert back.reason.code == 80008
            assert client.connection_id != first_id
            assert not (await blend.reaches(ChannelState.ATTACHED)).resumed
            async with sim.http() as http:
                sent = await publish(http, ETF_BLEND, exec="rebalance")
            assert (await blend.next_message()).id == sent["id"]
    finally:
        sim.process.stop()


# -- keeping alive ----------------------------------------------------------------------------


@FORMATS
async def test_heartbeats_keep_an_idle_connection_alive_and_a_ping_is_answered(
    sim: Sim, binary: bool
) -> None:
    # The SDK gives up after maxIdleInterval + its request timeout of silence (2.1 s here).
    async with ably_client(sim, binary, request_timeout_ms=1500) as client, sim.http() as http:
        await connected(client)
        first_id = client.connection_id

        async def idle_long_enough() -> bool:
            # 10 heartbeats, one per half interval: 3 s of nothing else on the connection.
            clients = await ably_clients(http)
            return bool(clients) and clients[0]["heartbeats_sent"] >= 10

        await until(idle_long_enough, "ten heartbeats")
        assert client.changes.empty()
        assert client.realtime.connection.state == ConnectionState.CONNECTED
        assert client.connection_id == first_id
        assert await asyncio.wait_for(client.realtime.connection.ping(), WAIT) >= 0


# -- malformed data ---------------------------------------------------------------------------


@FORMATS
async def test_raw_garbage_reaches_the_client_as_data_and_the_connection_survives(
    sim: Sim, binary: bool
) -> None:
    async with ably_client(sim, binary) as client, sim.http() as http:
        await connected(client)
        first_id = client.connection_id
        blend = await subscribe(client, ETF_BLEND)
        over_64_kib = {"exec": "rebalance", "padding": "x" * 70_000}
        bodies: list[Any] = [
            "not json {",
            ["not", {"an": "event"}],
            {"note": "no exec here"},
            "\ud800",
            {"exec": "rebalance", "note": "lone \udfff surrogate"},
            over_64_kib,
        ]
        for body in bodies:
            await raw(http, ETF_BLEND, body)
        received = [await blend.next_message() for _ in bodies]
        assert [m.data for m in received] == bodies
        assert [m.name for m in received] == [None, None, None, None, "rebalance", "rebalance"]
        assert len({m.id for m in received}) == len(bodies)

        await raw(http, ETF_BLEND, "odd", name="weird-name", id="raw-1", count=2)
        copies = [await blend.next_message() for _ in range(2)]
        assert [(m.id, m.name, m.data) for m in copies] == [("raw-1", "weird-name", "odd")] * 2

        sent = await publish(http, ETF_BLEND, exec="rebalance")
        assert (await blend.next_message()).id == sent["id"]
        assert client.connection_id == first_id
        assert client.changes.empty()


# -- the control API and the process ----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/control/ably", {"denied_channels": TREASURY}),
        ("PUT", "/control/ably", {"denied_channels": [""]}),
        ("PUT", "/control/ably", {"refuse_connections": "yes"}),
        ("PUT", "/control/ably", {"deny": [TREASURY]}),
        ("POST", "/control/disconnect-all?mode=politely", None),
    ],
)
async def test_bad_ably_control_input_is_refused_with_422(
    sim: Sim, method: str, path: str, body: Any
) -> None:
    async with sim.http() as http:
        response = await http.request(method, path, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["errors"]


async def test_a_plain_http_request_at_the_root_is_told_to_open_a_websocket(sim: Sim) -> None:
    async with sim.http() as http:
        response = await http.get("/")
    assert response.status_code == 426
    assert "WebSocket" in response.json()["message"]


@FORMATS
async def test_sigterm_stops_promptly_with_ably_clients_connected(
    tmp_path: Path, binary: bool
) -> None:
    sim = start_sim(tmp_path, *IDLE)
    proc = sim.process.proc
    assert proc is not None
    try:
        async with ably_client(sim, binary) as client:
            await connected(client)
            await subscribe(client, ETF_BLEND)
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(proc.wait, WAIT) == 0, sim.process.log_text()
            await client.reaches(ConnectionState.DISCONNECTED)
    finally:
        sim.process.stop()
    assert "zehnlabs_sim.stopped" in sim.process.log_text()
