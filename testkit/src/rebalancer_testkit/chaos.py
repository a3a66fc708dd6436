"""Chaos: the whole system on the simulators under random faults, then an audit of SPEC section 5.

    system = ChaosSystem(workdir)
    try:
        run = run_chaos(system, seed=20261123)      # faults and publications, then settle
    finally:
        system.close()
    result = audit(run)                             # figures + violations, from ground truth

`run_chaos` starts a redis-server of its own with append-only persistence, both simulators, the
event broker and the event processor, seeds 20 paper accounts in four strategies, and then
works through a shuffled, seeded list of actions: publish a rebalance (usually with new
weights), redeliver a strategy's last message, make the allocations API fail for the next few
requests, drop every gateway connection, and SIGKILL the processor, the broker or Redis (each
restarted after a random pause, Redis on the same port and data). Then every fault is cleared
and the system is left to settle until the queue is empty.

`audit` judges from the facts the system cannot fake: the publications we made (and when), the
simulator's orders (IB's side), the processor's history records in Redis, and the JSON logs of
every broker and processor incarnation (for which event created which order, and which stream
message created which event). What each check means is written at `audit`.

The test (tests/chaos) and the benchmark (bench/system_bench.py) both use this module.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import redis
from rebalancer_local.processes import ManagedProcess
from rebalancer_local.redis_server import RedisServer
from rebalancer_local.stack import MARKET_OPEN_MONDAY, Stack, log_events
from rebalancer_shared import keys
from rebalancer_shared.queue import EventQueue, QueueCounts
from redis.asyncio import Redis as AsyncRedis

QUOTES: dict[str, tuple[float, float, float]] = {
    # symbol: (bid, ask, last), late-2026 prices
    "SPY": (600.00, 600.05, 600.02),
    "QQQ": (520.00, 520.10, 520.05),
    "VTI": (290.00, 290.04, 290.02),
    "VOO": (550.00, 550.10, 550.05),
    "TLT": (90.00, 90.02, 90.01),
    "IEF": (95.00, 95.02, 95.01),
    "BIL": (91.50, 91.51, 91.50),
    "LQD": (108.00, 108.03, 108.01),
    "GLD": (240.00, 240.05, 240.02),
    "DBC": (22.50, 22.52, 22.51),
    "EFA": (80.00, 80.02, 80.01),
    "VNQ": (92.00, 92.03, 92.01),
}

STRATEGY_POOLS: dict[str, tuple[str, ...]] = {
    # The symbols each strategy picks its targets from (a publication may drop some: sells).
    "tactical-growth": ("SPY", "QQQ", "VTI", "GLD"),
    "treasury-rotation": ("TLT", "IEF", "BIL"),
    "all-weather": ("VTI", "TLT", "IEF", "GLD", "DBC"),
    "global-income": ("LQD", "EFA", "VNQ", "BIL", "IEF"),
}

RESERVES = (0.0, 1.0, 2.5, 5.0, 10.0)
"""cash_reserve_percent values the accounts are given (round robin)."""

CASH_TOLERANCE = 0.05
"""Dollars: rounding of the simulator's order view (average price to 4 decimals, commission to
cents) that the replayed cash may differ by from IB's own books."""

SHARE_TOLERANCE = 1.0
"""An account is on target when each symbol is within one whole share of its target count."""


# --- the accounts and the strategies -------------------------------------------------------------


@dataclass(frozen=True)
class AccountSeed:
    """An account as seeded at the simulator and written to accounts.yaml."""

    account_id: str
    strategy: str
    reserve_percent: float
    cash: float
    positions: dict[str, int]

    def yaml_row(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "strategy_name": self.strategy,
            "cash_reserve_percent": self.reserve_percent,
        }


def make_accounts(
    rng: random.Random,
    count: int,
    strategies: Sequence[str],
    first_number: int = 5_000_100,
) -> list[AccountSeed]:
    """`count` paper accounts spread over `strategies`, each with its own cash and holdings
    (some all cash, some holding symbols their strategy never targets)."""
    symbols = sorted(QUOTES)
    accounts = []
    for n in range(count):
        cash = float(rng.choice((8_000, 25_000, 60_000, 150_000, 400_000)) + rng.randint(0, 999))
        positions: dict[str, int] = {}
        for symbol in rng.sample(symbols, rng.randint(0, 3)):
            value = rng.uniform(2_000, 40_000)
            positions[symbol] = max(1, int(value / QUOTES[symbol][2]))
        accounts.append(
            AccountSeed(
                account_id=f"DU{first_number + n}",
                strategy=strategies[n % len(strategies)],
                reserve_percent=RESERVES[n % len(RESERVES)],
                cash=cash,
                positions=positions,
            )
        )
    return accounts


def random_weights(rng: random.Random, pool: Sequence[str]) -> dict[str, float]:
    """Two or more of the pool's symbols, weights summing to between 0.9 and 1 (rest cash)."""
    chosen = sorted(rng.sample(list(pool), rng.randint(2, len(pool))))
    raw = [rng.uniform(0.2, 1.0) for _ in chosen]
    invested = rng.uniform(0.9, 1.0)
    weights = [math.floor(r / sum(raw) * invested * 1000) / 1000 for r in raw]
    return dict(zip(chosen, weights, strict=True))


# --- the system ----------------------------------------------------------------------------------


class ChaosSystem:
    """Redis (its own, append-only), both simulators, a broker and a processor; every part can
    be killed with SIGKILL and started again. Each incarnation logs to its own file."""

    def __init__(self, workdir: Path, **service_env: str) -> None:
        self.workdir = workdir
        self.redis = RedisServer(workdir / "redis", appendonly=True)
        self.stack = Stack(workdir / "stack", self.redis.url)
        self.service_env = {
            # Catch-up and reconnects retry fast: a restart is back within a second.
            "BROKER_CATCHUP_RETRY_MIN_SECONDS": "0.5",
            "BROKER_CATCHUP_RETRY_MAX_SECONDS": "2",
            "BROKER_REDIS_RETRY_MAX_SECONDS": "0.5",
            **service_env,
        }
        self.processor: ManagedProcess | None = None
        self.broker: ManagedProcess | None = None
        self.processors: list[ManagedProcess] = []
        self.brokers: list[ManagedProcess] = []

    # --- lifecycle -------------------------------------------------------------------------------

    def start(
        self,
        accounts: Sequence[AccountSeed],
        quotes: Mapping[str, tuple[float, float, float]] = QUOTES,
    ) -> None:
        """Redis and both simulators, the accounts seeded at IB and written to accounts.yaml."""
        self.redis.start()
        self.stack.start_ib_sim()
        self.stack.start_zehnlabs_sim()
        self.stack.ib.put_quotes(quotes)
        self.stack.ib.set_clock(MARKET_OPEN_MONDAY, running=True)
        for account in accounts:
            self.stack.ib.put_account(account.account_id, account.cash, account.positions)
        self.stack.write_accounts([account.yaml_row() for account in accounts])

    def start_services(self) -> None:
        """The processor, then the broker (its first catch-up only records, SPEC section 4)."""
        self.start_processor()
        self.start_broker()

    def close(self) -> None:
        try:
            self.stack.stop_all()
        finally:
            self.redis.stop()

    # --- the parts -------------------------------------------------------------------------------

    def start_processor(self) -> ManagedProcess:
        self.start_redis()
        name = f"processor-{len(self.processors) + 1}"
        self.processor = self.stack.start_processor(name, **self.service_env)
        self.processors.append(self.processor)
        return self.processor

    def kill_processor(self) -> None:
        if self.processor is not None:
            self.processor.kill()
            self.processor = None

    def start_broker(self) -> ManagedProcess:
        self.start_redis()
        name = f"broker-{len(self.brokers) + 1}"
        self.broker = self.stack.start_broker(name, **self.service_env)
        self.brokers.append(self.broker)
        return self.broker

    def kill_broker(self) -> None:
        if self.broker is not None:
            self.broker.kill()
            self.broker = None

    def start_redis(self) -> None:
        if not self.redis.alive():
            self.redis.start()

    def kill_redis(self) -> None:
        self.redis.kill()

    def restart_everything_down(self) -> None:
        self.start_redis()
        if self.processor is None:
            self.start_processor()
        if self.broker is None:
            self.start_broker()

    # --- what the audit reads --------------------------------------------------------------------

    def facts(self) -> dict[str, Any]:
        client = self.redis.client()
        try:
            history = [json.loads(row) for row in client.lrange(keys.HISTORY, 0, -1)]
            leftovers = {
                keys.QUEUE: client.llen(keys.QUEUE),
                keys.ACTIVE: client.scard(keys.ACTIVE),
                keys.ACTIVE_IDS: client.hlen(keys.ACTIVE_IDS),
                keys.EVENTS: client.hlen(keys.EVENTS),
                keys.DELAYED: client.zcard(keys.DELAYED),
                keys.ACCOUNT_LOCKS: client.hlen(keys.ACCOUNT_LOCKS),
            }
            for pattern in (f"{keys.PROCESSING_PREFIX}*", f"{keys.ACCOUNT_WAITING_PREFIX}*"):
                for key in client.scan_iter(match=pattern):
                    leftovers[str(key)] = client.llen(key)
            for key in client.scan_iter(match=f"{keys.STATE_PREFIX}*"):
                leftovers[str(key)] = 1
            counters = {str(k): int(v) for k, v in client.hgetall(keys.COUNTERS).items()}
            duplicates = int(client.get(keys.DUPLICATES_TOTAL) or 0)
        finally:
            client.close()
        return {
            "history": history,
            "leftovers": leftovers,
            "counters": {**counters, "duplicates": duplicates},
            "orders": self.stack.ib.orders(),
            "ib_stats": self.stack.ib.stats(),
            "accounts": {a["account_id"]: a for a in self.stack.ib.http.get("/accounts").json()},
            "processor_logs": {p.name: log_events(p) for p in self.processors},
            "broker_logs": {b.name: log_events(b) for b in self.brokers},
        }


# --- the scenario --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChaosPlan:
    """How many of each action the shuffled schedule holds, and its pace."""

    publications: int = 30
    redeliveries: int = 6
    allocation_faults: int = 5
    gateway_drops: int = 3
    processor_kills: int = 4
    broker_kills: int = 3
    redis_kills: int = 3
    gap_seconds: tuple[float, float] = (0.2, 1.2)
    """Pause before each action, drawn uniformly."""
    down_seconds: tuple[float, float] = (0.1, 2.0)
    """How long a killed processor or broker stays down (Redis: at most 1.5 s)."""
    settle_seconds: float = 120.0

    def actions(self) -> list[str]:
        return (
            ["publish"] * self.publications
            + ["redeliver"] * self.redeliveries
            + ["allocations_fault"] * self.allocation_faults
            + ["gateway_drop"] * self.gateway_drops
            + ["kill_processor"] * self.processor_kills
            + ["kill_broker"] * self.broker_kills
            + ["kill_redis"] * self.redis_kills
        )


@dataclass(frozen=True)
class WeightsVersion:
    """Weights served for a strategy from some moment in [set_started, set_done] until the next
    version's set_done (wall-clock seconds)."""

    strategy: str
    weights: dict[str, float]
    set_started: float
    set_done: float


@dataclass(frozen=True)
class Publication:
    """One rebalance we published: its stream message id, when we asked (after its weights were
    set, so any rebalance that starts later trades to them or newer) and the weights."""

    message_id: str
    strategy: str
    requested_at: float
    weights: dict[str, float]
    delivered_to: int


@dataclass
class ChaosRun:
    seed: int
    plan: ChaosPlan
    accounts: list[AccountSeed]
    quotes: dict[str, tuple[float, float, float]]
    versions: list[WeightsVersion] = field(default_factory=list)
    publications: list[Publication] = field(default_factory=list)
    faults: Counter[str] = field(default_factory=Counter)
    timeline: list[tuple[float, str]] = field(default_factory=list)
    chaos_seconds: float = 0.0
    settle_seconds: float = 0.0
    settled: bool = False
    facts: dict[str, Any] = field(default_factory=dict)

    def current_weights(self, strategy: str) -> dict[str, float]:
        return next(v.weights for v in reversed(self.versions) if v.strategy == strategy)

    def set_weights(self, system: ChaosSystem, strategy: str, weights: dict[str, float]) -> None:
        before = time.time()
        system.stack.zehnlabs.set_allocations(strategy, weights)
        self.versions.append(WeightsVersion(strategy, dict(weights), before, time.time()))


def run_chaos(
    system: ChaosSystem,
    seed: int,
    plan: ChaosPlan | None = None,
    account_count: int = 20,
) -> ChaosRun:
    """Start the system, work through the seeded schedule of faults, settle, collect the facts."""
    plan = plan or ChaosPlan()
    rng = random.Random(seed)
    strategies = sorted(STRATEGY_POOLS)
    accounts = make_accounts(rng, account_count, strategies)
    run = ChaosRun(seed=seed, plan=plan, accounts=accounts, quotes=dict(QUOTES))
    initial = {s: random_weights(rng, STRATEGY_POOLS[s]) for s in strategies}
    system.start(accounts, run.quotes)
    for strategy, weights in initial.items():
        run.set_weights(system, strategy, weights)
    system.start_services()
    actions = plan.actions()
    rng.shuffle(actions)
    started = time.monotonic()
    restart_at: dict[str, float] = {}
    starters = {
        "redis": system.start_redis,
        "processor": system.start_processor,
        "broker": system.start_broker,
    }
    killers = {
        "redis": system.kill_redis,
        "processor": system.kill_processor,
        "broker": system.kill_broker,
    }

    def note(what: str) -> None:
        run.timeline.append((round(time.monotonic() - started, 3), what))

    def restart_due(force: bool = False) -> None:
        for part, due in sorted(restart_at.items(), key=lambda item: item[1]):
            if force or time.monotonic() >= due:
                del restart_at[part]
                starters[part]()
                note(f"restarted {part}")

    for action in actions:
        pause_until = time.monotonic() + rng.uniform(*plan.gap_seconds)
        while time.monotonic() < pause_until:
            restart_due()
            time.sleep(min(0.05, max(pause_until - time.monotonic(), 0)))
        restart_due()
        if action == "publish":
            strategy = rng.choice(strategies)
            if rng.random() < 0.8:  # else the same weights again
                run.set_weights(system, strategy, random_weights(rng, STRATEGY_POOLS[strategy]))
            requested_at = time.time()
            answer = system.stack.zehnlabs.publish(strategy)
            run.publications.append(
                Publication(
                    message_id=answer["id"],
                    strategy=strategy,
                    requested_at=requested_at,
                    weights=run.current_weights(strategy),
                    delivered_to=answer["delivered_to"],
                )
            )
            note(f"published {strategy} {answer['id']} to {answer['delivered_to']}")
        elif action == "redeliver":
            published = sorted({p.strategy for p in run.publications})
            if not published:
                continue
            strategy = rng.choice(published)
            response = system.stack.zehnlabs.http.post(f"/control/strategies/{strategy}/redeliver")
            response.raise_for_status()
            run.faults["redeliveries"] += 1
            note(f"redelivered {strategy} {response.json()['id']}")
        elif action == "allocations_fault":
            mode = rng.choice(("http_500", "malformed_json"))
            strategy = rng.choice(strategies)
            times = rng.randint(1, 3)
            system.stack.zehnlabs.fault(mode, strategy=strategy, times=times)
            run.faults["allocation_faults"] += 1
            note(f"allocations of {strategy}: {mode} for {times} request(s)")
        elif action == "gateway_drop":
            system.stack.ib.faults(drop_connections=True)
            run.faults["gateway_drops"] += 1
            note("dropped the gateway connections")
        else:
            part = action.removeprefix("kill_")
            if part in restart_at:  # still down from its last kill: bring it back first
                restart_due(force=True)
            killers[part]()
            run.faults[f"{part}_kills"] += 1
            down = rng.uniform(*plan.down_seconds)
            restart_at[part] = time.monotonic() + (min(down, 1.5) if part == "redis" else down)
            note(f"killed {part} (SIGKILL), down {down:.2f}s")
    while restart_at:
        restart_due()
        time.sleep(0.05)
    system.stack.zehnlabs.fault(None)
    system.restart_everything_down()
    run.chaos_seconds = round(time.monotonic() - started, 2)
    note("chaos over; settling")

    settle_started = time.monotonic()
    run.settled = settle(system, run, plan.settle_seconds)
    run.settle_seconds = round(time.monotonic() - settle_started, 2)
    note("settled" if run.settled else "did not settle")
    run.facts = system.facts()
    return run


def run_scale_out(
    system: ChaosSystem,
    seed: int,
    account_count: int = 50,
    processors: int = 2,
    strategies: Sequence[str] = ("tactical-growth", "treasury-rotation"),
    settle_seconds: float = 90.0,
) -> ChaosRun:
    """Several processor instances on one Redis and one gateway. Each strategy's rebalance is
    published with a `print-positions` for the same accounts right behind it, then published
    again with new weights while the first round still runs, so the instances want the same
    accounts at the same time; then settle and collect the facts."""
    rng = random.Random(seed)
    accounts = make_accounts(rng, account_count, list(strategies), first_number=6_000_100)
    no_faults = ChaosPlan(
        publications=2 * len(strategies), redeliveries=0, allocation_faults=0, gateway_drops=0,
        processor_kills=0, broker_kills=0, redis_kills=0, settle_seconds=settle_seconds,
    )  # fmt: skip
    run = ChaosRun(seed=seed, plan=no_faults, accounts=accounts, quotes=dict(QUOTES))
    system.start(accounts, run.quotes)
    for strategy in strategies:
        run.set_weights(system, strategy, random_weights(rng, STRATEGY_POOLS[strategy]))
    for _ in range(processors):
        system.start_processor()
    system.start_broker()
    started = time.monotonic()
    for round_number in (1, 2):
        for strategy in strategies:
            run.set_weights(system, strategy, random_weights(rng, STRATEGY_POOLS[strategy]))
            requested_at = time.time()
            answer = system.stack.zehnlabs.publish(strategy)
            run.publications.append(
                Publication(
                    answer["id"], strategy, requested_at, run.current_weights(strategy),
                    answer["delivered_to"],
                )
            )  # fmt: skip
            run.timeline.append((round(time.monotonic() - started, 3), f"published {strategy}"))
        if round_number == 1:
            for strategy in strategies:
                # Another command for the same accounts, queued beside their rebalances: the
                # instances take both and must not run them at once.
                system.stack.zehnlabs.publish(strategy, "print-positions")
                run.timeline.append(
                    (round(time.monotonic() - started, 3), f"published {strategy} print-positions")
                )
            time.sleep(rng.uniform(0.5, 1.5))  # the first round is under way
    run.chaos_seconds = round(time.monotonic() - started, 2)
    settle_started = time.monotonic()
    run.settled = settle(system, run, settle_seconds)
    run.settle_seconds = round(time.monotonic() - settle_started, 2)
    run.facts = system.facts()
    return run


def settle(system: ChaosSystem, run: ChaosRun, within: float) -> bool:
    """Wait until nothing is queued, waiting, in flight or held by the broker, and every
    publication has a succeeded rebalance after it for each account (or `within` passes)."""

    def quiet() -> bool:
        try:
            counts = asyncio.run(queue_counts(system.redis.url))
            client = system.redis.client()
            try:
                beat = client.hget(keys.SERVICE_HEARTBEATS, "event-broker")
                history = [json.loads(row) for row in client.lrange(keys.HISTORY, 0, -1)]
            finally:
                client.close()
        except redis.exceptions.RedisError:
            return False
        held = json.loads(beat).get("held_events", 0) if beat else 0
        idle = (
            counts.queue_length == 0
            and counts.active_events_count == 0
            and counts.processing_count == 0
            and counts.retry_events_count == 0
            and counts.delayed_events_count == 0
            and held == 0
        )
        return idle and not uncovered(run.accounts, run.publications, history)

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if quiet():
            time.sleep(0.5)  # and still so a moment later: nothing was on its way in
            if quiet():
                return True
        time.sleep(0.2)
    return False


async def queue_counts(url: str) -> QueueCounts:
    client = AsyncRedis.from_url(url, decode_responses=True)
    try:
        return await EventQueue(client).counts()
    finally:
        await client.aclose()


# --- which publications a rebalance stands for ------------------------------------------------


def _epoch(value: str | None) -> float:
    return datetime.fromisoformat(value).timestamp() if value else math.inf


@dataclass(frozen=True)
class Run:
    """A succeeded rebalance of one account (one history record)."""

    event_id: str
    account_id: str
    started_at: float
    finished_at: float
    record: dict[str, Any]


def succeeded_runs(history: Iterable[Mapping[str, Any]]) -> dict[str, list[Run]]:
    """Succeeded rebalances per account, in the order they started."""
    runs: dict[str, list[Run]] = defaultdict(list)
    for record in history:
        if record.get("exec") == "rebalance" and record.get("outcome") == "succeeded":
            runs[record["account_id"]].append(
                Run(
                    event_id=record["event_id"],
                    account_id=record["account_id"],
                    started_at=_epoch(record.get("started_at")),
                    finished_at=_epoch(record.get("finished_at")),
                    record=dict(record),
                )
            )
    for account_runs in runs.values():
        account_runs.sort(key=lambda run: run.started_at)
    return runs


def covering_run(runs: Sequence[Run], publication: Publication) -> Run | None:
    """The first succeeded rebalance of the account that started after the publication: it
    fetched the publication's weights (or newer ones) and traded to them."""
    return next((run for run in runs if run.started_at >= publication.requested_at), None)


def uncovered(
    accounts: Sequence[AccountSeed],
    publications: Sequence[Publication],
    history: Iterable[Mapping[str, Any]],
) -> list[tuple[str, str]]:
    """(message id, account) of every publication no succeeded rebalance has followed yet."""
    runs = succeeded_runs(history)
    return [
        (publication.message_id, account.account_id)
        for account in accounts
        for publication in publications
        if publication.strategy == account.strategy
        and covering_run(runs.get(account.account_id, []), publication) is None
    ]
