"""The Ably event source: how Zehnlabs really publishes (SPEC section 4). The only module that
imports the `ably` SDK.

One channel per strategy of the enabled accounts, named by the strategy; the message id is the
Ably message's `id`; the data is a JSON object or its text.

Who reconnects: the SDK itself, for everything Ably calls DISCONNECTED or SUSPENDED (a dropped
socket, a server that asks clients to reconnect, a network that is away for minutes). It resumes
the connection when it can: same connection id, channels re-attached with the RESUMED flag, and
the messages published meanwhile delivered late, so nothing is missed. When it cannot, the
connection id changes, or a channel attaches without RESUMED: continuity is lost, and each such
strategy is handed to catch-up (`on_subscribed`), which compares `last_rebalance_on`.

What the SDK does not retry: a FAILED connection (a key Ably refuses, 40101 and its family) and a
FAILED channel (a channel the key may not attach, 40160). Both are logged clearly, without the
secret, and retried here with the same doubling backoff as the Socket.IO source, forever: a new
client for a failed connection, a new attach for a failed channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from ably import AblyRealtime
from ably.types.channelstate import ChannelState
from ably.types.connectionstate import ConnectionState
from ably.util.exceptions import AblyException
from pydantic import SecretStr
from rebalancer_shared.backoff import Backoff, sleep_unless
from rebalancer_shared.log import get_logger

from event_broker.messages import from_ably
from event_broker.source import MessageHandler, SubscribedHandler

log = get_logger(__name__)

ABLY_SERVICE = "wss://main.realtime.ably.net"
"""What an empty ZEHNLABS_EVENTS_URL means (the SDK's default endpoint); for log lines only."""

CLOSE_TIMEOUT_SECONDS = 5.0
KEY_HINT = (
    "check REBALANCE_EVENT_SUBSCRIPTION_API_KEY: the Ably key Zehnlabs gave you, "
    "appId.keyId:secret, pasted whole"
)
CHANNEL_HINT = (
    "the key may not subscribe to this channel: check strategy_name in accounts.yaml against "
    "the strategies of your Zehnlabs subscription"
)


def client_options(
    url: str,
    *,
    request_timeout_seconds: float,
    disconnected_retry_seconds: float,
    suspended_retry_seconds: float,
    binary_protocol: bool,
) -> dict[str, Any]:
    """The SDK's options for `ZEHNLABS_EVENTS_URL`: empty is Ably's own service (with its fallback
    hosts), `ws://HOST:PORT` or `wss://HOST:PORT` an Ably-protocol server at that address."""
    options: dict[str, Any] = {
        "auto_connect": False,
        "use_binary_protocol": binary_protocol,
        # The SDK counts in milliseconds.
        "realtime_request_timeout": round(request_timeout_seconds * 1000),
        "disconnected_retry_timeout": round(disconnected_retry_seconds * 1000),
        "suspended_retry_timeout": round(suspended_retry_seconds * 1000),
        "channel_retry_timeout": round(disconnected_retry_seconds * 1000),
    }
    if url.strip():
        parts = urlsplit(url.strip())
        # The SDK builds its WebSocket URL from the endpoint (host:port) and `tls`; its `port`
        # option is not used for it.
        options.update(endpoint=parts.netloc, tls=parts.scheme == "wss", fallback_hosts=[])
    return options


class AblySource:
    transport = "ably"

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
        retry_seconds: float,
        binary_protocol: bool = True,
    ) -> None:
        self.url = url.strip() or ABLY_SERVICE
        self._api_key = api_key
        self._strategies = list(strategies)
        self._on_message = on_message
        self._on_subscribed = on_subscribed
        self._reconnect_min = reconnect_min_seconds
        self._reconnect_max = reconnect_max_seconds
        self._backoff = Backoff(reconnect_min_seconds, reconnect_max_seconds)
        self._options = client_options(
            url,
            request_timeout_seconds=timeout_seconds,
            disconnected_retry_seconds=retry_seconds,
            suspended_retry_seconds=reconnect_max_seconds,
            binary_protocol=binary_protocol,
        )
        self.connection = 0
        self.connected = False
        self.subscribed: list[str] = []
        self._attached: set[str] = set()
        self._connection_id: str | None = None

    def current_connection(self) -> int | None:
        return self.connection if self.connected else None

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected and attached until `stop` is set."""
        # The SDK logs routine reconnects as errors with tracebacks, and its connect URL carries
        # the key URL-encoded: its own logger stays quiet, and the state changes are logged here.
        sdk_log = logging.getLogger("ably")
        if sdk_log.getEffectiveLevel() > logging.DEBUG:
            sdk_log.setLevel(logging.CRITICAL)
        while not stop.is_set():
            if await self._session(stop):
                self._backoff.reset()
            if stop.is_set():
                break
            delay = self._backoff.next()
            log.info(
                "stream.reconnecting", transport=self.transport, retry_in_seconds=round(delay, 2)
            )
            if await sleep_unless(stop, delay):
                break
        log.info("stream.stopped")

    async def _session(self, stop: asyncio.Event) -> bool:
        """One SDK client, until its connection fails for good or `stop`. True when it connected."""
        client = AblyRealtime(key=self._api_key.get_secret_value(), **self._options)
        failed = asyncio.Event()
        reached = False

        def on_connection_state(change: Any) -> None:
            nonlocal reached
            if change.current == ConnectionState.CONNECTED:
                reached = True
            elif change.current == ConnectionState.FAILED:
                failed.set()
            self._connection_changed(client, change)

        client.connection.on(on_connection_state)
        client.connect()
        channels = [
            asyncio.create_task(self._keep_attached(client, strategy), name=f"ably {strategy}")
            for strategy in self._strategies
        ]
        waiter = asyncio.create_task(failed.wait())
        stopper = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waiter, stopper, *channels):
                task.cancel()
            await asyncio.gather(waiter, stopper, *channels, return_exceptions=True)
            self.connected = False
            self._set_attached(set())
            self._connection_id = None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(), CLOSE_TIMEOUT_SECONDS)
        return reached

    # --- the connection ------------------------------------------------------------------------

    def _connection_changed(self, client: AblyRealtime, change: Any) -> None:
        state = change.current
        reason = _described(change.reason)
        if state == ConnectionState.CONNECTED:
            connection_id = client.connection.connection_manager.connection_id
            resumed = self._connection_id is not None and connection_id == self._connection_id
            if not resumed:
                # Continuity lost (or a first connection): a new number, and every channel must
                # attach again before it counts as subscribed.
                self.connection += 1
                self._set_attached(set())
            self._connection_id = connection_id
            self.connected = True
            log.info(
                "stream.connected",
                transport=self.transport,
                url=self.url,
                connection=self.connection,
                resumed=resumed,
                **({"reason": reason} if reason and not resumed else {}),
            )
        elif state in (ConnectionState.DISCONNECTED, ConnectionState.SUSPENDED):
            was_connected = self.connected
            self.connected = False
            log.warning(
                "stream.disconnected" if was_connected else "stream.unreachable",
                transport=self.transport,
                url=self.url,
                state=str(state.value),
                reason=reason or "unknown",
                connection=self.connection,
                consequence="the Ably SDK reconnects by itself and resumes when it can; what a "
                "connection that cannot resume missed is found by catch-up",
            )
        elif state == ConnectionState.FAILED:
            self.connected = False
            code = getattr(change.reason, "code", None)
            if isinstance(code, int) and 40100 <= code < 40200:
                # The server answered and said no: almost always the key.
                log.error(
                    "stream.refused",
                    transport=self.transport,
                    url=self.url,
                    code=code,
                    reason=reason,
                    hint=KEY_HINT,
                    consequence="retrying with backoff",
                )
            else:
                log.error(
                    "stream.failed",
                    transport=self.transport,
                    url=self.url,
                    code=code,
                    reason=reason or "unknown",
                    consequence="retrying with backoff",
                )
        elif state in (ConnectionState.CLOSING, ConnectionState.CLOSED):
            self.connected = False

    # --- the channels --------------------------------------------------------------------------

    async def _keep_attached(self, client: AblyRealtime, strategy: str) -> None:
        """Subscribe to the strategy's channel, and attach it again whenever it fails."""
        channel = client.channels.get(strategy)
        failed = asyncio.Event()

        def on_channel_state(change: Any) -> None:
            if change.current == ChannelState.FAILED:
                failed.set()
            self._channel_changed(strategy, change)

        def on_message(message: Any) -> None:
            # Synchronous on purpose: messages are handed on in the order they arrived.
            self._on_message(from_ably(strategy, message.id, message.data), self.connection)

        channel.on(on_channel_state)
        backoff = Backoff(self._reconnect_min, self._reconnect_max)
        listening = False
        while True:
            failed.clear()
            try:
                if listening:
                    await channel.attach()
                else:
                    listening = True  # subscribe() registers the listener even when attach fails
                    await channel.subscribe(on_message)
                backoff.reset()
            except AblyException:
                pass  # logged by on_channel_state; FAILED is retried below, the rest by the SDK
            # Only a FAILED channel needs us: the SDK re-attaches SUSPENDED ones itself.
            await failed.wait()
            delay = backoff.next()
            log.info("stream.channel_retrying", strategy=strategy, retry_in_seconds=round(delay, 2))
            await asyncio.sleep(delay)

    def _channel_changed(self, strategy: str, change: Any) -> None:
        state = change.current
        if state == ChannelState.ATTACHED:
            self._set_attached(self._attached | {strategy})
            if change.resumed:
                log.info("stream.channel_resumed", strategy=strategy, connection=self.connection)
                return
            log.info(
                "stream.subscribed",
                transport=self.transport,
                strategies=[strategy],
                connection=self.connection,
                resumed=False,
            )
            # Attached without continuity (the first attach too): catch-up checks what this
            # strategy published meanwhile.
            self._on_subscribed(self.connection, [strategy])
            return
        self._set_attached(self._attached - {strategy})
        if state == ChannelState.FAILED:
            code = getattr(change.reason, "code", None)
            log.error(
                "stream.channel_refused",
                transport=self.transport,
                strategy=strategy,
                code=code,
                reason=_described(change.reason) or "unknown",
                **({"hint": CHANNEL_HINT} if code == 40160 else {}),
                consequence="retrying with backoff",
            )
        elif state in (ChannelState.SUSPENDED, ChannelState.DETACHED):
            log.warning(
                "stream.channel_detached",
                strategy=strategy,
                state=str(state.value),
                reason=_described(change.reason) or "unknown",
                consequence="the SDK attaches it again when the connection is back",
            )

    def _set_attached(self, attached: set[str]) -> None:
        self._attached = attached
        self.subscribed = sorted(attached)


def _described(reason: object) -> str | None:
    """An Ably error for a log line: its code and message (never the key: Ably does not echo
    it, and the log redactor would remove it anyway)."""
    if reason is None:
        return None
    if isinstance(reason, AblyException):
        return f"{reason.code}: {reason.message}"
    return str(reason)
