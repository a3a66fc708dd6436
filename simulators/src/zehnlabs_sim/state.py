"""The simulator's data: strategies, published events, allocation faults. No I/O, no sockets.

The Socket.IO and HTTP layers call into `SimState`; keeping it pure lets the rules (what moves
`last_rebalance_on`, which fault applies, what redeliver sends) be tested with plain values.
"""

from __future__ import annotations

import uuid
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from zehnlabs_sim.models import (
    Allocation,
    AllocationsBody,
    FaultBody,
    FaultMode,
    PublishBody,
    SeedStrategy,
    StrategyBody,
)

# Seeded and newly created strategies start here: a fixed past instant, so that the first real
# rebalance always moves it and tests can compare against a known value.
INITIAL_LAST_REBALANCE_ON = datetime(2026, 1, 2, 20, 45, tzinfo=UTC)

# Enough history for any test; bounded so a long demo run does not grow without limit.
PUBLISHED_HISTORY = 10_000

# Weights the `overweight` fault serves for a strategy that has none to scale up.
OVERWEIGHT_TOTAL = 1.3
_OVERWEIGHT_FALLBACK = (
    Allocation(symbol="SPY", allocation=0.65),
    Allocation(symbol="TLT", allocation=0.65),
)


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_timestamp(moment: datetime) -> str:
    """ISO-8601 UTC with seconds and a `Z`, the way `last_rebalance_on` is served."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _whole_seconds(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


@dataclass
class Strategy:
    name: str
    long_name: str
    allocations: list[Allocation]
    last_rebalance_on: datetime

    def api_data(self, allocations: Sequence[Allocation] | None = None) -> dict[str, Any]:
        """The `data` object of the allocations API; `allocations` overrides the real ones."""
        served = self.allocations if allocations is None else allocations
        return {
            "name": self.name,
            "strategy_long_name": self.long_name,
            "last_rebalance_on": format_timestamp(self.last_rebalance_on),
            "allocations": [a.model_dump() for a in served],
        }

    def overweight_allocations(self) -> list[Allocation]:
        """The same symbols scaled up so the weights sum to 1.3 (the `overweight` fault)."""
        total = sum(a.allocation for a in self.allocations)
        if total <= 0:
            return list(_OVERWEIGHT_FALLBACK)
        factor = OVERWEIGHT_TOTAL / total
        return [
            Allocation(symbol=a.symbol, allocation=a.allocation * factor) for a in self.allocations
        ]


@dataclass
class Fault:
    mode: FaultMode
    remaining: int | None  # None: until cleared


@dataclass
class SimState:
    seeds: Sequence[SeedStrategy]
    clock: Callable[[], datetime] = utc_now
    strategies: dict[str, Strategy] = field(default_factory=dict)
    published: deque[dict[str, Any]] = field(
        default_factory=lambda: deque(maxlen=PUBLISHED_HISTORY)
    )
    last_message: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Key None is the fault for every strategy; a strategy's own fault wins over it.
    faults: dict[str | None, Fault] = field(default_factory=dict)
    allocation_requests: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Back to the seeded strategies; nothing published, no faults."""
        self.strategies = {}
        for seed in self.seeds:
            self.upsert_strategy(seed.name, seed)
        self.published.clear()
        self.last_message.clear()
        self.faults.clear()
        self.allocation_requests.clear()

    # -- strategies ---------------------------------------------------------------------------

    def upsert_strategy(self, name: str, body: StrategyBody) -> bool:
        """Create the strategy or update the fields the body gives. True when created."""
        existing = self.strategies.get(name)
        if existing is None:
            self.strategies[name] = Strategy(
                name=name,
                long_name=body.strategy_long_name or name,
                allocations=list(body.allocations or []),
                last_rebalance_on=_whole_seconds(
                    body.last_rebalance_on or INITIAL_LAST_REBALANCE_ON
                ),
            )
            return True
        if body.strategy_long_name is not None:
            existing.long_name = body.strategy_long_name
        if body.allocations is not None:
            existing.allocations = list(body.allocations)
        if body.last_rebalance_on is not None:
            existing.last_rebalance_on = _whole_seconds(body.last_rebalance_on)
        return False

    def delete_strategy(self, name: str) -> bool:
        self.last_message.pop(name, None)
        return self.strategies.pop(name, None) is not None

    def set_allocations(self, name: str, body: AllocationsBody) -> tuple[Strategy, bool]:
        """Replace a strategy's allocations, creating it if unknown. Moves `last_rebalance_on`
        only when the body says `touch`. Returns the strategy and whether it was created."""
        # `body` is validated already, with or without its weight checks.
        update = StrategyBody(allocations=body.allocations, unchecked=True)
        created = self.upsert_strategy(name, update)
        strategy = self.strategies[name]
        if body.touch:
            self._mark_rebalanced(strategy)
        return strategy, created

    def _mark_rebalanced(self, strategy: Strategy) -> None:
        # At least one second forward: two rebalances within one second must still look
        # different to a client comparing `last_rebalance_on` after a reconnect.
        now = _whole_seconds(self.clock())
        strategy.last_rebalance_on = max(now, strategy.last_rebalance_on + timedelta(seconds=1))

    # -- events -------------------------------------------------------------------------------

    def new_event(self, name: str, body: PublishBody) -> dict[str, Any]:
        """The `event` message to emit for a known strategy; a `rebalance` first moves the
        strategy's `last_rebalance_on`, so a client fetching allocations on receipt sees it."""
        strategy = self.strategies[name]
        message: dict[str, Any] = {
            "id": body.id or str(uuid.uuid4()),
            "strategy": name,
            "exec": body.exec,
            **(body.model_extra or {}),
        }
        if body.exec == "rebalance":
            self._mark_rebalanced(strategy)
        self.last_message[name] = message
        return message

    def record(
        self,
        kind: str,
        strategy: str,
        message: Any,
        delivered_to: int,
        count: int = 1,
    ) -> None:
        """Remember what was emitted, for `GET /control/state`."""
        entry: dict[str, Any] = {"kind": kind, "strategy": strategy}
        if isinstance(message, dict) and kind != "raw":
            entry["id"] = message.get("id")
            entry["exec"] = message.get("exec")
        if kind == "raw":
            entry["count"] = count
        entry["delivered_to"] = delivered_to
        entry["at"] = format_timestamp(self.clock())
        entry["message"] = message
        self.published.append(entry)

    # -- allocation faults --------------------------------------------------------------------

    def set_fault(self, body: FaultBody) -> None:
        if body.mode is None:
            if body.strategy is None:
                self.faults.clear()
            else:
                self.faults.pop(body.strategy, None)
            return
        self.faults[body.strategy] = Fault(mode=body.mode, remaining=body.times)

    def peek_fault(self, name: str) -> FaultMode | None:
        fault = self.faults.get(name) or self.faults.get(None)
        return None if fault is None else fault.mode

    def take_fault(self, name: str) -> FaultMode | None:
        """The fault for this request, counting it against a `times` limit."""
        key: str | None = name if name in self.faults else None
        fault = self.faults.get(key)
        if fault is None:
            return None
        if fault.remaining is not None:
            fault.remaining -= 1
            if fault.remaining <= 0:
                del self.faults[key]
        return fault.mode

    # -- views --------------------------------------------------------------------------------

    def faults_view(self) -> list[dict[str, Any]]:
        return [
            {"strategy": key, "mode": fault.mode.value, "remaining": fault.remaining}
            for key, fault in self.faults.items()
        ]

    def view(self) -> dict[str, Any]:
        return {
            "strategies": {name: s.api_data() for name, s in sorted(self.strategies.items())},
            "events": list(self.published),
            "allocations_faults": self.faults_view(),
            "allocations_requests": dict(self.allocation_requests),
        }
