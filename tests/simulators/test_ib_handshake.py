"""The connection at the byte level, with a raw socket: handshake, version negotiation, the
first messages, and IB's errors for requests that cannot be served."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass

from ib_gateway_sim.protocol import FrameDecoder, encode_message

from tests.simulators.ib_helpers import (
    ACCOUNT,
    OTHER_ACCOUNT,
    WAIT,
    running_simulator,
    seed_account,
)


@dataclass
class RawClient:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    decoder: FrameDecoder
    pending: list[list[str]]

    async def handshake(self, versions: str) -> None:
        text = versions.encode()
        self.writer.write(b"API\0" + struct.pack(">I", len(text)) + text)
        await self.writer.drain()

    def send(self, *fields: str | int) -> None:
        self.writer.write(encode_message(fields))

    async def receive(self) -> list[str]:
        while not self.pending:
            data = await asyncio.wait_for(self.reader.read(65536), WAIT)
            if not data:
                raise ConnectionError("the simulator closed the connection")
            self.pending += self.decoder.feed(data)
        return self.pending.pop(0)

    async def receive_until(self, message_id: str) -> list[list[str]]:
        messages = [await self.receive()]
        while messages[-1][0] != message_id:
            messages.append(await self.receive())
        return messages

    async def closed_by_peer(self) -> bool:
        try:
            return await asyncio.wait_for(self.reader.read(), WAIT) == b""
        except ConnectionResetError:
            return True


@contextlib.asynccontextmanager
async def raw_client(port: int) -> AsyncIterator[RawClient]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield RawClient(reader, writer, FrameDecoder(), [])
    finally:
        writer.close()


async def started(client: RawClient, client_id: int = 1) -> None:
    await client.handshake("v100..226")
    await client.receive()
    client.send(71, 2, client_id, "")
    await client.receive_until("15")  # managedAccounts
    for _ in range(3):  # the data farm notices
        await client.receive()


async def test_handshake_picks_178_and_start_api_sends_ids_and_accounts_with_versions() -> None:
    async with running_simulator() as sim:
        await seed_account(sim, ACCOUNT, 1_000.0)
        await seed_account(sim, OTHER_ACCOUNT, 1_000.0)
        async with raw_client(sim.api_port) as client:
            await client.handshake("v100..226")
            version, connection_time = await client.receive()
            assert version == "178"
            assert connection_time == "20240709 15:00:00 EDT"

            client.send(71, 2, 4, "")  # startApi, client id 4
            next_id, accounts = await client.receive(), await client.receive()
            assert next_id == ["9", "1", "1"]  # id, version, next valid order id
            assert accounts == ["15", "1", f"{ACCOUNT},{OTHER_ACCOUNT}"]
            notices = [await client.receive() for _ in range(3)]
            assert [fields[3] for fields in notices] == ["2104", "2106", "2158"]


async def test_client_speaking_only_older_versions_is_turned_away() -> None:
    async with running_simulator() as sim, raw_client(sim.api_port) as client:
        await client.handshake("v100..150")
        assert await client.closed_by_peer()


async def test_bytes_that_are_not_the_tws_protocol_close_the_connection() -> None:
    async with running_simulator() as sim, raw_client(sim.api_port) as client:
        client.writer.write(b"GET / HTTP/1.1\r\n\r\n")
        assert await client.closed_by_peer()


async def test_unknown_message_id_gets_error_505() -> None:
    async with running_simulator() as sim:
        await seed_account(sim, ACCOUNT, 1_000.0)
        async with raw_client(sim.api_port) as client:
            await started(client)
            client.send(250, 1, 7)
            error = (await client.receive_until("4"))[-1]
            assert error[:5] == ["4", "2", "-1", "505", "Fatal Error: Unknown message id."]


async def test_requests_before_start_api_are_refused_with_an_error() -> None:
    async with running_simulator() as sim, raw_client(sim.api_port) as client:
        await client.handshake("v157..178")
        await client.receive()
        client.send(49, 1)  # reqCurrentTime
        error = await client.receive()
        assert error[:4] == ["4", "2", "-1", "322"]
        assert "startApi first" in error[4]


async def test_a_truncated_request_gets_error_320_at_its_request_id() -> None:
    async with running_simulator() as sim:
        await seed_account(sim, ACCOUNT, 1_000.0)
        async with raw_client(sim.api_port) as client:
            await started(client)
            client.send(9, 8, 77, 0, "SPY")  # reqContractDetails cut short
            error = (await client.receive_until("4"))[-1]
            assert error[:4] == ["4", "2", "77", "320"]
            assert "REQ_CONTRACT_DATA" in error[4]
            client.send(49, 1)  # the connection goes on
            assert (await client.receive_until("49"))[-1][:2] == ["49", "1"]
