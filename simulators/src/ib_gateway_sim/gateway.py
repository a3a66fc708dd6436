"""The TWS API server: accepts client connections and joins them to one engine.

It owns what spans connections: the sessions, the clock, connection faults (drop, refuse),
fill delays (timers), statistics, and the baseline a reset returns to. Every state change goes
through here so that its events reach every connected client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ib_gateway_sim.clock import Clock
from ib_gateway_sim.engine import Engine, Event, OrderRequest, OrderSubmitted
from ib_gateway_sim.faults import Faults
from ib_gateway_sim.instruments import ROUTING_EXCHANGES, Instrument, Quote
from ib_gateway_sim.ratelimit import DEFAULT_DISCONNECT_FACTOR, DEFAULT_LIMIT
from ib_gateway_sim.requests import ContractSpec
from ib_gateway_sim.session import Session

log = logging.getLogger("ib_gateway_sim.gateway")

STOP_TIMEOUT_SECONDS = 5.0


@dataclass
class Baseline:
    """What the simulator starts with and a reset returns to (accounts only at start)."""

    instruments: list[Instrument] = field(default_factory=list)
    quotes: dict[str, Quote] = field(default_factory=dict)
    accounts: dict[str, tuple[float, dict[str, int]]] = field(default_factory=dict)
    clock: datetime | None = None
    clock_running: bool = False


@dataclass
class Stats:
    messages_received: int = 0
    messages_refused: int = 0  # answered with error 100
    peak_messages_per_second: int = 0


class Gateway:
    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        faults: Faults,
        baseline: Baseline | None = None,
        rate_limit: int = DEFAULT_LIMIT,
        disconnect_factor: int = DEFAULT_DISCONNECT_FACTOR,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.faults = faults
        self.baseline = baseline or Baseline()
        self.rate_limit = rate_limit
        self.disconnect_factor = disconnect_factor
        self.stats = Stats()
        self.sessions: set[Session] = set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._session_numbers = 0
        self._apply_baseline(with_accounts=True)

    # ---- lifecycle ---------------------------------------------------------------------------

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._on_connect, host, port)
        log.info("gateway.listening host=%s port=%s", host, self.port)

    @property
    def port(self) -> int:
        assert self._server is not None, "the gateway is not started"
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self.drop_connections()
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=STOP_TIMEOUT_SECONDS)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), STOP_TIMEOUT_SECONDS)
            self._server = None
        log.info("gateway.stopped")

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.faults.refuse_connections:
            log.info("gateway.connection_refused peer=%s", writer.get_extra_info("peername"))
            writer.close()
            return
        self._session_numbers += 1
        session = Session(self, reader, writer, self._session_numbers)
        self.sessions.add(session)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await session.serve()
        finally:
            if task is not None:
                self._tasks.discard(task)

    def unregister(self, session: Session) -> None:
        self.sessions.discard(session)

    def client_id_in_use(self, client_id: int, asking: Session) -> bool:
        return any(s.client_id == client_id for s in self.sessions if s is not asking)

    def note_message(self, in_window: int) -> None:
        """Count one message received; `in_window` is its client's count in the last second."""
        self.stats.messages_received += 1
        if in_window > self.stats.peak_messages_per_second:
            self.stats.peak_messages_per_second = in_window

    @property
    def connections(self) -> int:
        return len(self.sessions)

    # ---- faults and reset --------------------------------------------------------------------

    def drop_connections(self) -> int:
        """Close every client connection now; returns how many there were."""
        dropped = list(self.sessions)
        for session in dropped:
            session.close()
        if dropped:
            log.info("gateway.connections_dropped count=%s", len(dropped))
        return len(dropped)

    def reset(self) -> None:
        """Back to the baseline's instruments, quotes and clock; no accounts, orders, faults
        or statistics. Connected clients stay connected."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self.engine.reset()
        self.faults.clear()
        self.stats = Stats()
        self._apply_baseline(with_accounts=False)
        log.info("gateway.reset")

    def _apply_baseline(self, with_accounts: bool) -> None:
        baseline = self.baseline
        self.engine.instruments.clear()
        self.engine.quotes.clear()
        for instrument in baseline.instruments:
            self.engine.add_instrument(instrument)
        now = self.clock.now()
        self.engine.set_quotes(baseline.quotes, now)
        self.clock.set(baseline.clock, baseline.clock_running)
        if with_accounts:
            for account_id, (cash, positions) in baseline.accounts.items():
                self.engine.put_account(account_id, cash, positions)

    # ---- state changes that clients hear about -----------------------------------------------

    def publish(self, events: Iterable[Event]) -> None:
        events = list(events)
        for session in list(self.sessions):
            session.on_events(events)

    def place(self, request: OrderRequest) -> None:
        delay = self.faults.fill_delay_ms
        events = self.engine.place(request, self.clock.now(), defer_fill=delay > 0)
        self.publish(events)
        if delay > 0:
            for event in events:
                if isinstance(event, OrderSubmitted) and event.order.awaiting_release:
                    self._release_later(event.order.perm_id, delay / 1000)

    def _release_later(self, perm_id: int, seconds: float) -> None:
        loop = asyncio.get_running_loop()

        def release() -> None:
            self._timers.discard(handle)
            self.publish(self.engine.release(perm_id, self.clock.now()))

        handle = loop.call_later(seconds, release)
        self._timers.add(handle)

    def cancel(self, client_id: int, order_id: int) -> None:
        self.publish(self.engine.cancel(client_id, order_id, self.clock.now()))

    def global_cancel(self) -> None:
        self.publish(self.engine.global_cancel(self.clock.now()))

    def set_quotes(self, quotes: Mapping[str, Quote]) -> None:
        self.publish(self.engine.set_quotes(quotes, self.clock.now()))

    def put_account(self, account_id: str, cash: float, positions: Mapping[str, int]) -> None:
        self.publish(self.engine.put_account(account_id, cash, positions))

    # ---- lookups -----------------------------------------------------------------------------

    def resolve(self, spec: ContractSpec) -> Instrument | None:
        """The instrument a client's contract names, or None (IB's error 200)."""
        if spec.sec_type not in ("", "STK") or spec.currency not in ("", "USD"):
            return None
        instruments = self.engine.instruments
        if spec.con_id > 0:
            instrument = next((i for i in instruments.values() if i.con_id == spec.con_id), None)
            if instrument is None or (spec.symbol and spec.symbol != instrument.symbol):
                return None
        else:
            instrument = instruments.get(spec.symbol or spec.local_symbol)
            if instrument is None:
                return None
        if spec.exchange and spec.exchange not in (instrument.primary_exchange, *ROUTING_EXCHANGES):
            return None
        return instrument
