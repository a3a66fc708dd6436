"""The audit of a chaos run (`rebalancer_testkit.chaos`): SPEC section 5's guarantees, checked on
ground truth the system cannot fake.

* the publications we made, and when (each after its weights were set);
* IB's side: every order at the simulator, with its fills, in the order IB took them (perm id);
* the processor's history records in Redis (one per finished attempt);
* the JSON logs of every broker and processor incarnation: which stream message made which
  queue event (`event.enqueued`, `event.rerun_marked`, `event.duplicate`), and which attempt of
  which event placed which order (`gateway.connected` names the client id, `order.placed` the
  order id, the bound `event_id` the event).

`audit(run)` returns the figures and every violation, each a sentence naming the account, the
event and the numbers. What each check means is written at `audit`.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from rebalancer_testkit.chaos import (
    AccountSeed,
    ChaosRun,
    Publication,
    Run,
    WeightsVersion,
    covering_run,
    succeeded_runs,
)
from rebalancer_testkit.targets import shares_off_at_market, shares_off_target

CASH_TOLERANCE = 0.05
"""Dollars the replayed cash may differ from IB's books per order: the simulator's order view
rounds the average price to 4 decimals and the commission to cents."""

SHARE_TOLERANCE = 1.0
"""One whole share: how far from its target a symbol may be."""


def _epoch(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


# --- what the logs say ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Origin:
    """Where a queue event came from, as the broker logged the queue's answer."""

    message_id: str | None  # the stream message, None for a catch-up
    line: str  # event.enqueued, event.rerun_marked or event.duplicate


def event_origins(broker_logs: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, Origin]:
    """Event id -> origin. `event.duplicate` counts too: while its twin is in flight, the newest
    duplicate is the one that runs once more afterwards (under its own id)."""
    origins: dict[str, Origin] = {}
    for records in broker_logs.values():
        for record in records:
            line = str(record.get("event"))
            if line not in ("event.enqueued", "event.rerun_marked", "event.duplicate"):
                continue
            label = str(record.get("delivery", ""))
            message = label.removeprefix("message ") if label.startswith("message ") else None
            origins.setdefault(str(record["event_id"]), Origin(message, line))
    return origins


RELEASED_BEFORE_LOGGED = frozenset({"event.completed", "event.handed_back", "event.not_owned"})
RELEASED_AFTER_LOGGED = frozenset({"event.failed", "event.delayed"})


@dataclass
class Attempt:
    """One attempt of one event in one processor, from its `event.started` line on."""

    event_id: str
    account_id: str
    times_queued: int
    process: str
    started_at: float
    fetched_at: float | None = None
    total: float | None = None  # the weights' sum the processor logged at `allocations.fetched`
    symbols: int | None = None
    last_held_at: float = 0.0
    """Its last line written while it surely still held the account: every line before
    `event.completed` / `event.handed_back` / `event.not_owned` (logged after the queue freed
    the account), up to and with `event.failed` / `event.delayed` (logged before)."""
    ended: str | None = None  # the line that ended it; None: the process died during it


@dataclass(frozen=True)
class PlacedOrder:
    attempt: Attempt
    symbol: str
    action: str
    quantity: int


def read_processor_logs(
    processor_logs: Mapping[str, Sequence[Mapping[str, Any]]],
) -> tuple[list[Attempt], dict[tuple[int, int], PlacedOrder]]:
    """Every attempt, and (client id, order id) -> the attempt that placed it. An
    `order.placed` line belongs to the connection of the last `gateway.connected` before it."""
    attempts: list[Attempt] = []
    orders: dict[tuple[int, int], PlacedOrder] = {}
    for process, records in processor_logs.items():
        client_id: int | None = None
        current: dict[str, Attempt] = {}
        for record in records:
            line = record.get("event")
            if line == "gateway.connected":
                client_id = int(record["client_id"])
                continue
            event_id = record.get("event_id")
            if event_id is None:
                continue
            if line == "event.started":
                attempt = Attempt(
                    event_id=str(event_id),
                    account_id=str(record["account_id"]),
                    times_queued=int(record.get("times_queued", 0)),
                    process=process,
                    started_at=_epoch(record["timestamp"]),
                )
                current[attempt.event_id] = attempt
                attempts.append(attempt)
            if (attempt_now := current.get(str(event_id))) is None or attempt_now.ended:
                continue
            if line in RELEASED_BEFORE_LOGGED:
                attempt_now.ended = str(line)
                continue
            attempt_now.last_held_at = _epoch(record["timestamp"])
            if line in RELEASED_AFTER_LOGGED:
                attempt_now.ended = str(line)
            elif line == "allocations.fetched":
                attempt_now.fetched_at = _epoch(record["timestamp"])
                attempt_now.total = float(record["total"])
                attempt_now.symbols = int(record["symbols"])
            elif line == "order.placed" and client_id is not None:
                orders[(client_id, int(record["order_id"]))] = PlacedOrder(
                    attempt=attempt_now,
                    symbol=str(record["symbol"]),
                    action=str(record["action"]),
                    quantity=int(record["quantity"]),
                )
    return attempts, orders


def weights_of(
    attempt: Attempt, strategy: str, versions: Sequence[WeightsVersion]
) -> tuple[int, dict[str, float]] | None:
    """The weights version (index, weights) an attempt fetched: one in force at some moment
    between its start and its `allocations.fetched` line, with the sum and the number of
    symbols it logged. None when that does not single one out."""
    if attempt.fetched_at is None:
        return None
    mine = [(i, v) for i, v in enumerate(versions) if v.strategy == strategy]
    candidates: dict[tuple[tuple[str, float], ...], tuple[int, dict[str, float]]] = {}
    for position, (index, version) in enumerate(mine):
        replaced_by = mine[position + 1][1].set_done if position + 1 < len(mine) else math.inf
        in_force = version.set_started <= attempt.fetched_at and replaced_by >= attempt.started_at
        matches = (
            attempt.total is not None
            and round(math.fsum(version.weights.values()), 6) == round(attempt.total, 6)
            and len(version.weights) == attempt.symbols
        )
        if in_force and matches:
            candidates.setdefault(tuple(sorted(version.weights.items())), (index, version.weights))
    return next(iter(candidates.values())) if len(candidates) == 1 else None


# --- the audit -----------------------------------------------------------------------------------


@dataclass
class Audit:
    figures: dict[str, Any] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)

    def fail(self, message: str) -> None:
        self.violations.append(message)


def audit(run: ChaosRun) -> Audit:
    """Check SPEC section 5's guarantees on what happened.

    Events. For each published rebalance P of strategy S and each account A following S
    (a "published event"):
    * processed: a succeeded rebalance of A started after P was published (P's weights were set
      before), so A was traded to P's weights or newer ones. Not processed = LOST.
    * of those, "ran": A has a succeeded rebalance created from P's own message (the broker's
      log names the message of each event); "coalesced": A has none, because P's event was
      dropped by the dedup rule (an event of A was still waiting and ran after P), or P came
      while the broker was down and the catch-up (or a later publication) stood for it.
    * duplicated: two succeeded rebalances of A created from P's message.
    processed (ran + coalesced) + lost = published. A succeeded rebalance that stands for no
    new publication (a rerun of an update its twin already fetched, a catch-up of something
    done) is a "repeat": counted; it may only buy with cash its predecessor's fills left over.

    Trading, with the simulator's orders as ground truth, each explained by an `order.placed`
    line of a processor, replayed per account in IB's order from its seeded state:
    * cash never below the reserve: after every BUY fill, cash >= reserve% x net liquidation
      (positions at the last price), to the cent;
    * no symbol bought twice for one event: per queue event and weights version (a retry that
      fetched newer weights rebalances to those), per symbol, a BUY after the first can only
      be the processor's top-up: it may spend no more than the cash the earlier BUYs' fills
      left below their limit prices, plus one share, so buying the order again (the double
      trade) fails; and no BUY fill takes a symbol more than one share above its target;
    * on target at the end: each symbol within one share of its target (the planner's, see
      `rebalancer_testkit.targets`), with the reserve taken of the net liquidation IB reported when
      the account's last rebalance planned its buys (`planned_net_liquidation`); how far from
      the target at market prices is in the figures;
    * nothing left: no dedup key, event body, state, lock, queued, waiting or in-flight id.
    """
    result = Audit()
    facts = run.facts
    accounts = {account.account_id: account for account in run.accounts}
    runs = succeeded_runs(facts["history"])
    origins = event_origins(facts["broker_logs"])
    attempts, placed = read_processor_logs(facts["processor_logs"])

    # Orders at IB, each with the attempt that placed it.
    attempt_of: dict[int, PlacedOrder] = {}
    for order in facts["orders"]:
        found = placed.get((int(order["client_id"]), int(order["order_id"])))
        if found is None or found.attempt.account_id != order["account_id"]:
            result.fail(f"an order at IB that no processor log explains: {order}")
            continue
        attempt_of[int(order["perm_id"])] = found

    events = _audit_events(result, run, runs, origins, attempt_of, facts["orders"])
    trading, planned_with = _audit_trading(result, run, accounts, attempt_of, facts)
    planned = planned_net_liquidation(runs, attempts, planned_with)
    targets = _audit_targets(result, run, facts["accounts"], planned)

    exclusive = _audit_exclusive(result, attempts)

    left = {key: n for key, n in facts["leftovers"].items() if n}
    if left:
        result.fail(f"left in Redis after settling: {left}")
    if not run.settled:
        result.fail("the system did not settle (queue empty and every publication processed)")

    broker_lines = Counter(
        str(record.get("event"))
        for records in facts["broker_logs"].values()
        for record in records
        if str(record.get("event")).startswith(("message.duplicate", "event.", "catch_up.missed"))
    )
    result.figures = {
        "seed": run.seed,
        "accounts": len(run.accounts),
        "strategies": len({a.strategy for a in run.accounts}),
        "publications": len(run.publications),
        **events,
        "attempts": dict(Counter(str(r.get("outcome")) for r in facts["history"])),
        "attempts_started": len(attempts),
        **trading,
        **targets,
        **exclusive,
        "ib_stats": facts["ib_stats"],
        "kills_survived": sum(n for kind, n in run.faults.items() if kind.endswith("_kills")),
        "faults": dict(run.faults),
        "broker_lines": dict(broker_lines),
        "queue_counters": facts["counters"],
        "chaos_seconds": run.chaos_seconds,
        "settle_seconds": run.settle_seconds,
    }
    return result


def _audit_events(
    result: Audit,
    run: ChaosRun,
    runs: Mapping[str, Sequence[Any]],
    origins: Mapping[str, Origin],
    attempt_of: Mapping[int, PlacedOrder],
    orders: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    filled_by_event: Counter[str] = Counter(
        attempt_of[int(o["perm_id"])].attempt.event_id
        for o in orders
        if o["filled"] and int(o["perm_id"]) in attempt_of
    )
    published = ran = coalesced = lost = duplicated = 0
    repeats = repeat_orders = unattributed = 0
    for account in run.accounts:
        account_runs = runs.get(account.account_id, [])
        stands_for: dict[str, list[Publication]] = defaultdict(list)
        for publication in run.publications:
            if publication.strategy != account.strategy:
                continue
            published += 1
            own = [
                r
                for r in account_runs
                if (origin := origins.get(r.event_id)) is not None
                and origin.message_id == publication.message_id
            ]
            if len(own) > 1:
                duplicated += 1
                result.fail(
                    f"DUPLICATED: message {publication.message_id} rebalanced "
                    f"{account.account_id} {len(own)} times (events {[r.event_id for r in own]})"
                )
            covering = covering_run(account_runs, publication)
            if covering is None:
                lost += 1
                result.fail(
                    f"LOST: {account.account_id} has no succeeded rebalance after the "
                    f"publication of {publication.strategy} {publication.message_id} "
                    f"(published at {publication.requested_at:.3f})"
                )
                continue
            stands_for[covering.event_id].append(publication)
            if own:
                ran += 1
            else:
                coalesced += 1
        for account_run in account_runs:
            if account_run.event_id not in origins:
                unattributed += 1  # the broker died between Redis's answer and its log line
            if not stands_for.get(account_run.event_id):
                repeats += 1
                repeat_orders += filled_by_event[account_run.event_id]
    return {
        "events_published": published,
        "events_processed": ran + coalesced,
        "events_ran_own_message": ran,
        "events_coalesced": coalesced,
        "events_lost": lost,
        "events_duplicated": duplicated,
        "rebalances_succeeded": sum(len(r) for r in runs.values()),
        "repeated_rebalances": repeats,
        "orders_filled_by_repeats": repeat_orders,
        "rebalances_without_broker_line": unattributed,
    }


def _audit_exclusive(result: Audit, attempts: Sequence[Attempt]) -> dict[str, Any]:
    """Never two events of one account at once, in one processor or across processors: each
    attempt starts after every earlier attempt of its account last wrote while holding it."""
    by_account: dict[str, list[Attempt]] = defaultdict(list)
    for attempt in attempts:
        by_account[attempt.account_id].append(attempt)
    overlaps = 0
    for account_id, account_attempts in sorted(by_account.items()):
        account_attempts.sort(key=lambda a: a.started_at)
        for position, later in enumerate(account_attempts[1:], start=1):
            holder = max(account_attempts[:position], key=lambda a: a.last_held_at)
            if holder.last_held_at >= later.started_at:
                overlaps += 1
                result.fail(
                    f"{account_id}: event {later.event_id} (attempt {later.times_queued}, "
                    f"{later.process}) started while event {holder.event_id} (attempt "
                    f"{holder.times_queued}, {holder.process}) still worked on the account "
                    f"({holder.last_held_at - later.started_at:.3f}s overlap)"
                )
    return {
        "attempts_per_process": dict(Counter(a.process for a in attempts)),
        "overlapping_attempts": overlaps,
    }


def _audit_trading(
    result: Audit,
    run: ChaosRun,
    accounts: Mapping[str, AccountSeed],
    attempt_of: Mapping[int, PlacedOrder],
    facts: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[tuple[str, str, float], float]]:
    """The trading checks; and, per attempt that bought, the net liquidation IB reported
    before its first BUY fill (`planned_net_liquidation`)."""
    planned_with: dict[tuple[str, str, float], float] = {}
    last = {symbol: quote[2] for symbol, quote in run.quotes.items()}
    bought: dict[tuple[str, int], set[str]] = defaultdict(set)  # (event, version) -> symbols
    slack: dict[tuple[str, int], float] = defaultdict(
        float
    )  # cash the buys' fills left below their limit
    unchecked_buys = fills = top_ups = 0
    worst_over = 0.0
    lowest_headroom = math.inf
    by_account: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for order in facts["orders"]:
        by_account[order["account_id"]].append(order)
    for account_id, orders in sorted(by_account.items()):
        seed = accounts[account_id]
        cash, positions = seed.cash, Counter(seed.positions)
        for order in sorted(orders, key=lambda o: int(o["perm_id"])):
            filled, symbol = int(order["filled"]), str(order["symbol"])
            if not filled:
                continue
            fills += 1
            price = float(order["avg_fill_price"])
            if order["action"] == "SELL":
                cash += filled * price - float(order["commission"])
                positions[symbol] -= filled
                continue
            found = attempt_of.get(int(order["perm_id"]))
            if found is not None:  # the net liquidation before its first buy: what it planned with
                planned_with.setdefault(
                    attempt_key(found.attempt),
                    cash + sum(q * last[s] for s, q in positions.items()),
                )
            cash -= filled * price + float(order["commission"])
            positions[symbol] += filled
            nlv = cash + sum(q * last[s] for s, q in positions.items())
            reserve = seed.reserve_percent / 100 * nlv
            lowest_headroom = min(lowest_headroom, cash - reserve)
            if cash < reserve - 0.005:
                result.fail(
                    f"{account_id}: cash {cash:.2f} below its reserve {reserve:.2f} "
                    f"({seed.reserve_percent}% of {nlv:.2f}) after BUY {filled} {symbol}"
                )
            version = weights_of(found.attempt, seed.strategy, run.versions) if found else None
            if found is None or version is None:
                unchecked_buys += 1
                continue
            index, weights = version
            key = (found.attempt.event_id, index)
            if symbol in bought[key]:
                # Bought again for the same weights: only a top-up with the cash earlier fills
                # left below their limit price (plus the share that rounds it) may do that.
                top_ups += 1
                allowance = slack[key] + price
                if filled * price > allowance + 0.005:
                    result.fail(
                        f"{account_id}: event {found.attempt.event_id} bought {symbol} twice for "
                        f"the same weights (version {index}): again {filled} for "
                        f"{filled * price:.2f}, more than the {slack[key]:.2f} its earlier buys "
                        "left below their limit plus one share"
                    )
                slack[key] = max(slack[key] - filled * price, 0.0)
            bought[key].add(symbol)
            slack[key] += filled * (float(order["limit_price"] or price) - price)
            asks = {s: quote[1] for s, quote in run.quotes.items()}
            reserve_of = planned_with[attempt_key(found.attempt)]
            over = shares_off_target(
                positions, cash, reserve_of, weights, seed.reserve_percent, asks
            )[symbol]
            worst_over = max(worst_over, over)
            if over > SHARE_TOLERANCE:
                result.fail(
                    f"{account_id}: event {found.attempt.event_id} bought {symbol} up to "
                    f"{positions[symbol]} shares, {over:.2f} above its target "
                    f"(weight {weights.get(symbol, 0.0)})"
                )
        books = facts["accounts"][account_id]
        if abs(books["cash"] - cash) > CASH_TOLERANCE * len(orders):
            result.fail(f"{account_id}: replayed cash {cash:.2f}, IB's books {books['cash']}")
        held = {s: q for s, q in positions.items() if q}
        if held != books["positions"]:
            result.fail(f"{account_id}: replayed positions {held}, IB holds {books['positions']}")
    figures = {
        "orders_at_ib": len(facts["orders"]),
        "fills": fills,
        "buy_fills_without_known_weights": unchecked_buys,
        "top_up_buys": top_ups,
        "lowest_cash_above_reserve_usd": round(lowest_headroom, 2),
        "most_shares_bought_above_target": round(worst_over, 2),
    }
    return figures, planned_with


def attempt_key(attempt: Attempt) -> tuple[str, str, float]:
    return (attempt.process, attempt.event_id, attempt.started_at)


def planned_net_liquidation(
    runs: Mapping[str, Sequence[Run]],
    attempts: Sequence[Attempt],
    planned_with: Mapping[tuple[str, str, float], float],
) -> dict[str, float]:
    """Account -> IB's net liquidation when its last succeeded rebalance planned its buys.

    The reserve of a plan is a share of the net liquidation it read: for the buys, the one IB
    reports after the sells, kept through the top-up rounds. The buys then lower IB's net
    liquidation by their own costs (commissions, the ask above the last price): $58 for the
    $163k a $420k account bought, so the reserve taken of IB's final figure is $5.80 lower at a
    10 % reserve and every target a little higher, 0.018 of a $90 share, enough to take a
    symbol the plan left 0.988 below its target to 1.006. The replay of IB's orders gives it
    (`_audit_trading`: the net liquidation before the first BUY fill of that rebalance's last
    attempt). An account whose last rebalance bought nothing is left out: its plan read the net
    liquidation IB reports."""
    planned: dict[str, float] = {}
    for account_id, account_runs in runs.items():
        mine = [a for a in attempts if a.event_id == account_runs[-1].event_id]
        if not mine:
            continue
        last_attempt = max(mine, key=lambda a: a.started_at)
        if (value := planned_with.get(attempt_key(last_attempt))) is not None:
            planned[account_id] = value
    return planned


def _audit_targets(
    result: Audit,
    run: ChaosRun,
    books_by_account: Mapping[str, Mapping[str, Any]],
    planned: Mapping[str, float],
) -> dict[str, Any]:
    """Every symbol of every account within one whole share of its target (the planner's:
    `rebalancer_testkit.targets`, the reserve taken of `planned_net_liquidation` where the last
    rebalance bought); how far from the target at market prices, as figures."""
    asks = {symbol: quote[1] for symbol, quote in run.quotes.items()}
    worst_under = worst_over = market_under = market_over = worst_percent = 0.0
    beyond = 0
    for account in run.accounts:
        books = books_by_account[account.account_id]
        weights = run.current_weights(account.strategy)
        nlv, cash = float(books["net_liquidation"]), float(books["cash"])
        reserve_of = planned.get(account.account_id, nlv)
        positions = books["positions"]
        off = shares_off_target(positions, cash, reserve_of, weights, account.reserve_percent, asks)
        for symbol, shares in off.items():
            worst_under = max(worst_under, -shares)
            worst_over = max(worst_over, shares)
            if abs(shares) > SHARE_TOLERANCE:
                beyond += 1
                held = positions.get(symbol, 0)
                result.fail(
                    f"{account.account_id}: holds {held} {symbol}, {shares:+.3f} shares from "
                    f"its target {held - shares:.3f}: weights {weights}, positions "
                    f"{dict(positions)}, cash {cash:.2f}, net liquidation {nlv:.2f}, "
                    f"{account.reserve_percent}% reserve of {reserve_of:.2f} (the net "
                    "liquidation its last rebalance planned its buys with)"
                )
        at_market = shares_off_at_market(positions, nlv, weights, account.reserve_percent, asks)
        market_under = max([market_under, *(-v for v in at_market.values())])
        market_over = max([market_over, *at_market.values()])
        investable = nlv * (1 - account.reserve_percent / 100)
        cash_target = nlv - investable * math.fsum(weights.values())
        worst_percent = max(worst_percent, 100 * (cash - cash_target) / nlv)
    return {
        "final_worst_shares_below_target": round(worst_under, 2),
        "final_worst_shares_above_target": round(worst_over, 2),
        "final_symbols_beyond_one_share": beyond,
        "final_worst_shares_below_target_at_market": round(market_under, 2),
        "final_worst_shares_above_target_at_market": round(market_over, 2),
        "final_worst_idle_cash_percent_of_nlv": round(worst_percent, 3),
    }


def report(run: ChaosRun, result: Audit) -> dict[str, Any]:
    """What goes to test-artifacts/chaos.json and bench-results.json."""
    return {
        "seed": run.seed,
        "plan": asdict(run.plan),
        "figures": result.figures,
        "violations": result.violations,
        "timeline": run.timeline,
    }
