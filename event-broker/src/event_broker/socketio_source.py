"""The Socket.IO event source (our own contract, SPEC section 4): connect, subscribe, listen,
and when anything ends the connection, connect again, forever.

python-socketio's own reconnection is off. It does not retry a connection refused at the start
or by `connect_error`, nor after a server-side disconnect ("io server disconnect"), and the
broker must survive all of these. One loop here handles every case alike: a fresh client per
attempt, delays that double from `BROKER_RECONNECT_MIN_SECONDS` to
`BROKER_RECONNECT_MAX_SECONDS` (with jitter), back to the minimum after a subscribe succeeds.

Each connection has a number (`connection`), so whoever receives a message knows whether the
connection it came on is still the current one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import aiohttp
import socketio
from pydantic import SecretStr
from rebalancer_shared.backoff import Backoff, sleep_unless
from rebalancer_shared.log import get_logger

from event_broker.messages import Dropped, from_socketio, shown
from event_broker.source import MessageHandler, SubscribedHandler

log = get_logger(__name__)

DISCONNECT_TIMEOUT_SECONDS = 5.0
SHOWN_TEXT_LENGTH = 200


class SocketIOSource:
    transport = "socketio"

    def __init__(
        self,
        url: str,
        api_key: SecretStr,
        strategies: Sequence[str],
        on_message: MessageHandler,
        on_subscribed: SubscribedHandler,
        *,
        reconnect_min_seconds: float,
        reconnect_max_seconds: float,
        timeout_seconds: float,
        socketio_path: str = "socket.io",
    ) -> None:
        self.url = url
        self._api_key = api_key
        self._strategies = list(strategies)
        self._on_message = on_message
        self._on_subscribed = on_subscribed
        self._backoff = Backoff(reconnect_min_seconds, reconnect_max_seconds)
        self._timeout = timeout_seconds
        self._socketio_path = socketio_path
        self.connection = 0
        self.connected = False
        self.subscribed: list[str] = []

    def current_connection(self) -> int | None:
        """The number of the connection in use, or None while disconnected."""
        return self.connection if self.connected else None

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected and subscribed until `stop` is set."""
        # One HTTP session for every attempt: python-socketio would open (and might leak) one
        # per client otherwise.
        async with aiohttp.ClientSession() as http:
            while not stop.is_set():
                if await self._session(http, stop):
                    self._backoff.reset()
                if stop.is_set():
                    break
                delay = self._backoff.next()
                log.info("stream.reconnecting", retry_in_seconds=round(delay, 2))
                if await sleep_unless(stop, delay):
                    break
        log.info("stream.stopped")

    async def _session(self, http: aiohttp.ClientSession, stop: asyncio.Event) -> bool:
        """One connection, from connect to its end. True when it got as far as subscribed."""
        sio = socketio.AsyncClient(
            reconnection=False,
            handle_sigint=False,
            http_session=http,
            request_timeout=self._timeout,
        )
        closed = asyncio.Event()
        refusals: list[Any] = []
        disconnect_reason: list[Any] = []
        connection = self.connection + 1

        def on_connect_error(data: Any = None) -> None:
            refusals.append(data)

        def on_disconnect(reason: Any = None) -> None:
            disconnect_reason.append(reason)
            self.connected = False
            closed.set()

        def on_event(*args: Any) -> None:
            # Synchronous on purpose: messages are handed on in the order they arrived.
            self._on_message(from_socketio(args), connection)

        def on_other(event: Any, *args: Any) -> None:
            reason = f"unexpected Socket.IO event {shown(event)}, ignored"
            self._on_message(Dropped(reason), connection)

        sio.on("connect_error", on_connect_error)
        sio.on("disconnect", on_disconnect)
        sio.on("event", on_event)
        sio.on("*", on_other)
        try:
            try:
                await sio.connect(
                    self.url,
                    auth={"api_key": self._api_key.get_secret_value()},
                    wait_timeout=self._timeout,
                    socketio_path=self._socketio_path,
                )
            except socketio.exceptions.ConnectionError as error:
                self._log_connect_failure(error, refusals)
                return False
            except (aiohttp.ClientError, OSError, ValueError) as error:
                # What slips past python-socketio's own wrapping: retried like the rest.
                log.warning(
                    "stream.unreachable",
                    url=self.url,
                    error=f"{type(error).__name__}: {error}",
                    consequence="retrying with backoff",
                )
                return False
            self.connection = connection
            self.connected = True
            log.info("stream.connected", url=self.url, connection=connection)
            if not await self._subscribe(sio, connection):
                return False
            waiter = asyncio.create_task(closed.wait())
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            stopper.cancel()
            if closed.is_set():
                log.warning(
                    "stream.disconnected",
                    reason=str(disconnect_reason[0]) if disconnect_reason else "unknown",
                    connection=connection,
                    consequence="events published until the reconnect are found by catch-up",
                )
            return True
        finally:
            self.connected = False
            self.subscribed = []
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sio.disconnect(), DISCONNECT_TIMEOUT_SECONDS)

    async def _subscribe(self, sio: Any, connection: int) -> bool:
        try:
            ack = await sio.call(
                "subscribe", {"strategies": self._strategies}, timeout=self._timeout
            )
        except (socketio.exceptions.TimeoutError, socketio.exceptions.SocketIOError) as error:
            log.error(
                "stream.subscribe_failed",
                error=f"{type(error).__name__}: {error}".rstrip(": "),
                strategies=self._strategies,
                consequence="disconnecting to try again",
            )
            return False
        if isinstance(ack, dict) and ack.get("status") == "error":
            log.error(
                "stream.subscribe_refused",
                message=_text(ack.get("message")),
                strategies=self._strategies,
                consequence="disconnecting to try again",
            )
            return False
        confirmed = ack.get("strategies") if isinstance(ack, dict) else None
        if not isinstance(confirmed, list):
            log.warning(
                "stream.subscribe_unconfirmed",
                ack=shown(ack),
                strategies=self._strategies,
                reason="the acknowledgement does not list the subscribed strategies",
            )
            confirmed = list(self._strategies)
        missing = sorted(set(self._strategies) - {str(name) for name in confirmed})
        if missing:
            log.warning(
                "stream.subscribe_unconfirmed",
                strategies=missing,
                reason="the server did not confirm these strategies: their events may not arrive",
            )
        unknown = ack.get("unknown") if isinstance(ack, dict) else None
        if isinstance(unknown, list) and unknown:
            log.warning(
                "stream.strategy_unknown",
                strategies=[str(name) for name in unknown],
                reason="the server does not know these strategies: check strategy_name in "
                "accounts.yaml for a typo",
            )
        self.subscribed = sorted(set(self._strategies) & {str(name) for name in confirmed})
        log.info("stream.subscribed", strategies=self.subscribed, connection=connection)
        # Catch-up checks every configured strategy, confirmed or not: for one the server did
        # not confirm, it is the only way its rebalances are found.
        self._on_subscribed(connection, list(self._strategies))
        return True

    def _log_connect_failure(self, error: Exception, refusals: list[Any]) -> None:
        refusal = next((r for r in refusals if isinstance(r, dict)), None)
        if refusal is not None:
            # The server answered and said no: almost always the API key.
            log.error(
                "stream.refused",
                url=self.url,
                reason=_text(refusal.get("message", refusal)),
                hint="check REBALANCE_EVENT_SUBSCRIPTION_API_KEY",
                consequence="retrying with backoff",
            )
            return
        detail = next((r for r in refusals if isinstance(r, str) and r), None) or str(error)
        log.warning(
            "stream.unreachable",
            url=self.url,
            error=detail,
            consequence="retrying with backoff",
        )


def _text(value: Any) -> str:
    """A server's words for a log line: strings as they are (shortened), the rest quoted."""
    if isinstance(value, str):
        return value if len(value) <= SHOWN_TEXT_LENGTH else value[: SHOWN_TEXT_LENGTH - 3] + "..."
    return shown(value)
