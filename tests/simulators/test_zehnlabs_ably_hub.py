"""The Ably side of the Zehnlabs simulator with plain values: the hub's connections, channels
and resume rules, and the frame codec. No process, no socket (see test_zehnlabs_ably.py for the
real SDK against the real process)."""

from __future__ import annotations

import json
from typing import Any

import msgpack  # type: ignore[import-untyped]
import pytest
from zehnlabs_sim.ably_codec import Format, decode_frame, encode_frame
from zehnlabs_sim.ably_hub import CHANNEL_HISTORY, AblyHub, Send
from zehnlabs_sim.ably_protocol import Action, ChannelMessage, Flag, ProtocolMessage

KEY = "zlsim.sub:s3cret"
ETF_BLEND = "demo-etf-blend"
TREASURY = "demo-treasury-rotation"
TTL_MS = 120_000


class Clock:
    def __init__(self) -> None:
        self.now = 1_790_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def hub(clock: Clock) -> AblyHub:
    return AblyHub(KEY, max_idle_interval_ms=15_000, connection_state_ttl_ms=TTL_MS, clock=clock)


class Client:
    """What one socket would see: the hub's answers addressed to it."""

    def __init__(self, hub: AblyHub, resume: str | None = None) -> None:
        self.hub = hub
        opened = hub.open(KEY, resume, Format.JSON)
        assert opened.connection is not None
        self.connection_id = opened.connection.id
        self.key = opened.connection.key
        self.generation = opened.generation
        self.connected = opened.replies[0]
        self.resumed = opened.resumed
        # The last channelSerial seen per channel, as the SDK keeps it.
        self.serials: dict[str, str] = {}

    def send(self, message: ProtocolMessage) -> list[ProtocolMessage]:
        return self.take(self.hub.receive(self.connection_id, self.generation, message))

    def take(self, sends: list[Send]) -> list[ProtocolMessage]:
        mine = [
            s.message
            for s in sends
            if s.connection_id == self.connection_id
            and s.generation == self.generation
            and s.message is not None
        ]
        for message in mine:
            if "channelSerial" in message:
                self.serials[message["channel"]] = message["channelSerial"]
        return mine

    def attach(self, channel: str, *, resume: bool = False) -> list[ProtocolMessage]:
        message: ProtocolMessage = {"action": Action.ATTACH, "channel": channel}
        if resume:
            message["flags"] = int(Flag.ATTACH_RESUME)
            message["channelSerial"] = self.serials.get(channel)
        return self.send(message)

    def lose_socket(self) -> None:
        self.hub.lost(self.connection_id, self.generation)


def publish(hub: AblyHub, channel: str, *ids: str) -> tuple[list[Send], int]:
    return hub.publish(channel, [ChannelMessage(id=i, name="rebalance", data={}) for i in ids])


def ids_of(messages: list[ProtocolMessage]) -> list[str]:
    return [m["messages"][0]["id"] for m in messages if m["action"] == Action.MESSAGE]


# -- connecting -------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "", "zlsim.sub:stolen", KEY + "x"])
def test_a_wrong_or_missing_key_is_refused_with_40101(hub: AblyHub, key: str | None) -> None:
    opened = hub.open(key, None, Format.JSON)
    assert opened.connection is None
    [refusal] = opened.replies
    assert refusal["action"] == Action.ERROR
    assert refusal["error"]["code"] == 40101
    assert refusal["error"]["statusCode"] == 401
    assert "channel" not in refusal
    assert hub.connections == {}


def test_connected_carries_the_connection_details_the_sdk_reads(hub: AblyHub) -> None:
    client = Client(hub)
    details = client.connected["connectionDetails"]
    assert client.connected["action"] == Action.CONNECTED
    assert client.connected["connectionId"] == client.connection_id
    assert details["connectionKey"] == client.key
    assert details["connectionStateTtl"] == TTL_MS
    assert details["maxIdleInterval"] == 15_000
    assert "clientId" not in details
    assert "error" not in client.connected


def test_a_ping_is_echoed_with_its_id_and_a_quiet_socket_gets_a_heartbeat(hub: AblyHub) -> None:
    client = Client(hub)
    assert client.send({"action": Action.HEARTBEAT, "id": "ping-7"}) == [
        {"action": Action.HEARTBEAT, "id": "ping-7"}
    ]
    assert hub.idle_heartbeat(client.connection_id) == {"action": Action.HEARTBEAT}
    assert hub.view()[0]["heartbeats_sent"] == 1


# -- channels ---------------------------------------------------------------------------------


def test_an_attached_connection_gets_each_message_of_its_channel_only(hub: AblyHub) -> None:
    blend, treasury = Client(hub), Client(hub)
    [attached] = blend.attach(ETF_BLEND)
    assert attached["action"] == Action.ATTACHED
    assert attached["flags"] == Flag.SUBSCRIBE
    assert attached["channelSerial"].endswith(":000000000000")
    treasury.attach(TREASURY)

    sends, subscribers = publish(hub, ETF_BLEND, "evt-1", "evt-2")
    assert subscribers == 1
    received = blend.take(sends)
    assert ids_of(received) == ["evt-1", "evt-2"]
    assert treasury.take(sends) == []
    first = received[0]
    assert first["channel"] == ETF_BLEND
    assert first["messages"][0]["name"] == "rebalance"
    assert received[0]["channelSerial"] < received[1]["channelSerial"]


def test_a_detached_channel_gets_nothing_more(hub: AblyHub) -> None:
    client = Client(hub)
    client.attach(ETF_BLEND)
    assert client.send({"action": Action.DETACH, "channel": ETF_BLEND}) == [
        {"action": Action.DETACHED, "channel": ETF_BLEND}
    ]
    sends, subscribers = publish(hub, ETF_BLEND, "evt-1")
    assert (sends, subscribers) == ([], 0)


def test_a_denied_channel_is_answered_with_a_channel_error_40160(hub: AblyHub) -> None:
    hub.denied = {TREASURY}
    client = Client(hub)
    [refusal] = client.attach(TREASURY)
    assert refusal["action"] == Action.ERROR
    assert refusal["channel"] == TREASURY
    assert refusal["error"]["code"] == 40160
    assert "not permitted" in refusal["error"]["message"]
    assert client.attach(ETF_BLEND)[0]["action"] == Action.ATTACHED
    hub.reset()
    assert client.attach(TREASURY)[0]["action"] == Action.ATTACHED


def test_a_publish_from_the_client_is_refused_with_a_nack(hub: AblyHub) -> None:
    client = Client(hub)
    [nack] = client.send(
        {"action": Action.MESSAGE, "channel": ETF_BLEND, "msgSerial": 3, "messages": []}
    )
    assert nack["action"] == Action.NACK
    assert (nack["msgSerial"], nack["count"], nack["error"]["code"]) == (3, 1, 40160)


# -- resume -----------------------------------------------------------------------------------


def test_a_resume_keeps_the_id_and_delivers_what_was_missed_after_the_attached(
    hub: AblyHub, clock: Clock
) -> None:
    client = Client(hub)
    client.attach(ETF_BLEND)
    client.take(publish(hub, ETF_BLEND, "seen")[0])
    client.lose_socket()
    clock.now += 60
    sends, subscribers = publish(hub, ETF_BLEND, "missed-1", "missed-2")
    assert (sends, subscribers) == ([], 0)

    back = Client(hub, resume=client.key)
    back.serials = client.serials
    assert back.resumed
    assert back.connection_id == client.connection_id
    assert "error" not in back.connected
    # Published between the resume and the re-ATTACH: part of the backlog, not sent before it.
    assert publish(hub, ETF_BLEND, "missed-3")[0] == []

    attached, *backlog = back.attach(ETF_BLEND, resume=True)
    assert attached["action"] == Action.ATTACHED
    assert attached["flags"] == Flag.SUBSCRIBE | Flag.RESUMED
    assert ids_of(backlog) == ["missed-1", "missed-2", "missed-3"]
    assert ids_of(back.take(publish(hub, ETF_BLEND, "live")[0])) == ["live"]


def test_the_clients_serial_decides_so_a_message_lost_in_flight_comes_again(
    hub: AblyHub,
) -> None:
    client = Client(hub)
    client.attach(ETF_BLEND)
    client.take(publish(hub, ETF_BLEND, "arrived")[0])
    publish(hub, ETF_BLEND, "lost-in-flight")  # queued for the socket, never read
    client.lose_socket()

    back = Client(hub, resume=client.key)
    back.serials = client.serials
    _, *backlog = back.attach(ETF_BLEND, resume=True)
    assert ids_of(backlog) == ["lost-in-flight"]


def test_a_resume_after_the_ttl_is_a_new_connection_with_80008(hub: AblyHub, clock: Clock) -> None:
    client = Client(hub)
    client.attach(ETF_BLEND)
    client.lose_socket()
    assert [c["connection_id"] for c in hub.resumable_view()] == [client.connection_id]
    clock.now += TTL_MS / 1000 + 1
    publish(hub, ETF_BLEND, "missed")

    back = Client(hub, resume=client.key)
    back.serials = client.serials
    assert not back.resumed
    assert back.connection_id != client.connection_id
    assert back.connected["error"]["code"] == 80008
    assert back.connected["error"]["statusCode"] == 400
    [attached] = back.attach(ETF_BLEND, resume=True)
    assert attached["flags"] == Flag.SUBSCRIBE


def test_a_serial_of_another_simulator_run_never_resumes(hub: AblyHub, clock: Clock) -> None:
    client = Client(hub)
    client.attach(ETF_BLEND)
    client.lose_socket()
    back = Client(hub, resume=client.key)
    back.serials = {ETF_BLEND: "0badc0de:000000000000"}
    [attached] = back.attach(ETF_BLEND, resume=True)
    assert attached["flags"] == Flag.SUBSCRIBE


def test_more_missed_messages_than_the_history_keeps_loses_continuity(hub: AblyHub) -> None:
    client = Client(hub)
    client.attach(ETF_BLEND)
    client.lose_socket()
    publish(hub, ETF_BLEND, *(f"evt-{n}" for n in range(CHANNEL_HISTORY + 1)))
    back = Client(hub, resume=client.key)
    back.serials = client.serials
    [attached] = back.attach(ETF_BLEND, resume=True)
    assert attached["flags"] == Flag.SUBSCRIBE


def test_a_second_socket_resuming_takes_the_connection_over(hub: AblyHub) -> None:
    client = Client(hub)
    client.attach(ETF_BLEND)
    back = Client(hub, resume=client.key)
    back.serials = client.serials
    # The old socket's late end changes nothing for the new one.
    client.lose_socket()
    assert hub.view()[0]["connection_id"] == back.connection_id
    assert client.send({"action": Action.HEARTBEAT, "id": "x"}) == []
    back.attach(ETF_BLEND, resume=True)
    assert ids_of(back.take(publish(hub, ETF_BLEND, "evt")[0])) == ["evt"]


def test_close_is_answered_closed_and_forgets_the_connection(hub: AblyHub) -> None:
    client = Client(hub)
    sends = hub.receive(client.connection_id, client.generation, {"action": Action.CLOSE})
    assert sends == [
        Send(client.connection_id, client.generation, {"action": Action.CLOSED}, close=True)
    ]
    assert hub.view() == []
    assert not Client(hub, resume=client.key).resumed


def test_expire_forgets_every_connection_and_drop_keeps_them(hub: AblyHub) -> None:
    kept, forgotten = Client(hub), Client(hub)
    assert len(hub.drop_all(forget=False)) == 2
    assert Client(hub, resume=kept.key).resumed
    assert len(hub.drop_all(forget=True)) == 1
    assert hub.view() == []
    assert not Client(hub, resume=forgotten.key).resumed


def test_a_server_disconnect_says_disconnected_closes_and_stays_resumable(hub: AblyHub) -> None:
    client = Client(hub)
    [send] = hub.disconnect_all()
    assert send.close
    assert send.message is not None
    assert send.message["action"] == Action.DISCONNECTED
    assert send.message["error"]["code"] == 80003
    assert Client(hub, resume=client.key).resumed


# -- frames -----------------------------------------------------------------------------------


def frame_of(data: Any, fmt: Format) -> ProtocolMessage:
    message = {
        "action": Action.MESSAGE,
        "channel": ETF_BLEND,
        "messages": [{"id": "evt-1", "name": "rebalance", "data": data}],
    }
    frame = encode_frame(message, fmt)
    if fmt is Format.JSON:
        assert isinstance(frame, str)
        decoded: ProtocolMessage = json.loads(frame)
    else:
        assert isinstance(frame, bytes)
        decoded = msgpack.unpackb(frame)
    return decoded["messages"][0]  # type: ignore[no-any-return]


def test_json_frames_carry_objects_as_json_text_and_strings_as_they_are() -> None:
    event = {"exec": "rebalance", "note": "month-end"}
    assert frame_of(event, Format.JSON) == {
        "id": "evt-1",
        "name": "rebalance",
        "data": json.dumps(event),
        "encoding": "json",
    }
    assert frame_of("not json {", Format.JSON)["data"] == "not json {"
    assert "encoding" not in frame_of("not json {", Format.JSON)
    # A lone surrogate travels as a \ud800 escape (ASCII text) and decodes back to itself.
    assert frame_of("\ud800", Format.JSON)["data"] == "\ud800"
    lone = {"action": Action.MESSAGE, "messages": [{"id": "evt-2", "data": "\ud800"}]}
    assert str(encode_frame(lone, Format.JSON)).isascii()


def test_msgpack_frames_carry_objects_as_maps() -> None:
    assert frame_of({"exec": "rebalance"}, Format.MSGPACK) == {
        "id": "evt-1",
        "name": "rebalance",
        "data": {"exec": "rebalance"},
    }


@pytest.mark.parametrize("data", ["\ud800", {"exec": "rebalance", "note": "\udfff"}, 2**70])
def test_what_msgpack_cannot_carry_travels_as_json_text(data: Any) -> None:
    item = frame_of(data, Format.MSGPACK)
    assert item["encoding"] == "json"
    assert json.loads(item["data"]) == data


@pytest.mark.parametrize(
    "frame", ["not json", "[1, 2]", b"\xc1", b"\x92\x01\x02", "[" * 100_000, b"\xa1\xff"]
)
def test_a_frame_that_is_no_protocol_message_decodes_to_none(frame: str | bytes) -> None:
    assert decode_frame(frame) is None


def test_frames_decode_by_their_type() -> None:
    assert decode_frame('{"action": 0, "id": "p"}') == {"action": 0, "id": "p"}
    assert decode_frame(msgpack.packb({"action": 7})) == {"action": 7}
