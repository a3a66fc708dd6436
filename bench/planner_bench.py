"""Planner benchmark: our planner beside plain per-symbol rounding and the exact optimum.

    uv run python -m bench.planner_bench --accounts 1000 --seed 7

For each seeded random account (all cash, drifted, rotations, over-invested, tiny; 2 to 6
targets; $2k to $1M) it plans with

* ours: `plan_rebalance`;
* naive: what the project we replace did, each symbol on its own,
  floor(net liquidation x (1 - reserve) x weight / limit price), sells at the bid;
* optimum: the exact minimum of the same tracking error over every whole-share portfolio
  reachable with the cash (an integer program solved with CBC through pulp, iterated
  Dinkelbach-style because the error is a ratio), then, among portfolios with that error,
  the one with least idle cash.

Tracking error is the planner's: positions valued at their limit price, cash as one more line.
Idle cash is the cash above the reserve and the strategy's own cash weight, counted in shares of
the cheapest target. The table goes to stdout; `--cli` also times `rebalance-plan` on the cases.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulp  # type: ignore[import-untyped]
from event_processor.planner import (
    Plan,
    PlanInput,
    Quote,
    apply_replacements,
    limit_price,
    plan_rebalance,
    tracking_error,
)

SCENARIOS = ("cash", "drifted", "rotation", "over-invested", "tiny")
SAME_ERROR = 1e-9
"""Errors closer than this are equal (the optimum is searched to this tolerance)."""


@dataclass(frozen=True)
class Outcome:
    error: float
    idle_shares: float  # idle cash / the cheapest target's limit price
    idle_percent: float  # idle cash, percent of net liquidation
    below_reserve: bool
    within_one_share: bool  # every target symbol within one whole share of its target


def random_account(rng: random.Random) -> PlanInput:
    """One account a Zehnlabs subscriber could have, consistent at mid prices."""
    scenario = rng.choice(SCENARIOS)
    n_targets = rng.randint(2, 6)
    symbols = [f"T{i}" for i in range(n_targets)] + [f"X{i}" for i in range(3)]
    quotes: dict[str, Quote] = {}
    mids: dict[str, float] = {}
    for symbol in symbols:
        mid = round(math.exp(rng.uniform(math.log(8), math.log(700))), 2)
        half_spread = max(0.005, mid * rng.uniform(0.0001, 0.0015))
        bid, ask = round(mid - half_spread, 2), round(mid + half_spread, 2)
        quotes[symbol] = Quote(bid=bid, ask=max(ask, bid + 0.01))
        mids[symbol] = (quotes[symbol].bid + quotes[symbol].ask) / 2
    raw = [rng.uniform(0.2, 1.0) for _ in range(n_targets)]
    invested = 0.9 if rng.random() < 0.2 else 1.0  # some strategies hold cash themselves
    weights = {f"T{i}": round(invested * w / sum(raw), 4) for i, w in enumerate(raw)}
    if scenario == "tiny":
        value = rng.uniform(1_500, 5_000)
    else:
        value = math.exp(rng.uniform(math.log(5_000), math.log(1_000_000)))
    reserve = rng.choice((0.0, 1.0, 2.0, 5.0, 10.0))
    positions: dict[str, int] = {}
    if scenario == "drifted":
        for symbol, weight in weights.items():
            positions[symbol] = int(value * weight * rng.uniform(0.6, 1.3) / mids[symbol])
    elif scenario == "rotation":
        for symbol in rng.sample(["X0", "X1", "X2", "T0"], rng.randint(1, 3)):
            positions[symbol] = int(value * rng.uniform(0.2, 0.45) / mids[symbol])
    elif scenario == "over-invested":
        for symbol, weight in weights.items():
            positions[symbol] = int(value * weight * rng.uniform(0.95, 1.05) / mids[symbol])
    invested_value = sum(count * mids[symbol] for symbol, count in positions.items())
    cash = round(max(0.0, value - invested_value), 2)
    net_liquidation = round(cash + invested_value, 2)
    return PlanInput(
        net_liquidation=net_liquidation,
        cash=cash,
        positions={symbol: count for symbol, count in positions.items() if count},
        quotes=quotes,
        targets=weights,
        cash_reserve_percent=reserve,
        buy_slippage_percent=0.5,
    )


@dataclass(frozen=True)
class Market:
    """The planner's prices and targets for one account, for the baselines and the optimum."""

    limits: dict[str, float]
    bids: dict[str, float]
    weights: dict[str, float]  # strategy weights after replacements
    reserve: float

    @classmethod
    def of(cls, inp: PlanInput) -> Market:
        # Weights summing a little over 1 (rounding at the source) are scaled to 1, as the
        # planner takes them.
        total = math.fsum(inp.targets.values())
        scaled = {s: w / total for s, w in inp.targets.items()} if total > 1 else inp.targets
        return cls(
            limits={s: limit_price(q.ask, inp.buy_slippage_percent) for s, q in inp.quotes.items()},
            bids={symbol: quote.bid for symbol, quote in inp.quotes.items()},
            weights=apply_replacements(scaled, inp.replacements),
            reserve=inp.net_liquidation * inp.cash_reserve_percent / 100,
        )

    def cash_after(self, inp: PlanInput, after: Mapping[str, int]) -> float:
        cash = inp.cash
        for symbol in inp.positions.keys() | after.keys():
            change = after.get(symbol, 0) - inp.positions.get(symbol, 0)
            cash -= change * (self.limits[symbol] if change > 0 else self.bids[symbol])
        return cash

    def outcome(self, inp: PlanInput, after: Mapping[str, int]) -> Outcome:
        cash = self.cash_after(inp, after)
        held = {symbol: count for symbol, count in after.items() if count}
        total = cash + sum(count * self.limits[symbol] for symbol, count in held.items())
        investable = total - self.reserve  # the targets are weights of this
        strategy_cash = max(0.0, 1 - sum(self.weights.values())) * investable
        idle = max(0.0, cash - self.reserve - strategy_cash)
        cheapest = min(self.limits[symbol] for symbol in self.weights)
        scaled = {s: w * investable / total for s, w in self.weights.items()}
        return Outcome(
            error=tracking_error(held, cash, self.limits, scaled),
            idle_shares=idle / cheapest,
            idle_percent=100 * idle / inp.net_liquidation,
            below_reserve=cash < self.reserve - 1e-6,
            within_one_share=all(
                abs(held.get(s, 0) - w * investable / self.limits[s]) <= 1 + 1e-9
                for s, w in self.weights.items()
            ),
        )


def ours(plan: Plan) -> dict[str, int]:
    return dict(plan.positions_after)


def naive(inp: PlanInput, market: Market) -> dict[str, int]:
    """Each symbol rounded on its own, down, from its target value (the old project)."""
    invested = inp.net_liquidation * (1 - inp.cash_reserve_percent / 100)
    return {
        symbol: math.floor(invested * weight / market.limits[symbol])
        for symbol, weight in market.weights.items()
    }


def optimum(inp: PlanInput, market: Market, start: Mapping[str, int]) -> dict[str, int]:
    """The exact best portfolio (least tracking error, then least idle cash)."""
    best = dict(start)
    error = market.outcome(inp, best).error
    while True:  # Dinkelbach: minimise F - 2 x error x value until nothing beats `error`
        found = _solve(inp, market, error)
        if found is None:
            break
        candidate = market.outcome(inp, found).error
        if candidate >= error - SAME_ERROR:
            break
        best, error = found, candidate
    spender = _solve(inp, market, error, least_cash=True)
    if spender is not None and market.outcome(inp, spender).error <= error + SAME_ERROR:
        return spender
    return best


def _solve(
    inp: PlanInput, market: Market, error: float, *, least_cash: bool = False
) -> dict[str, int] | None:
    """One integer program over final share counts; None if it finds nothing feasible."""
    scale = inp.net_liquidation  # work in fractions of the account so CBC's tolerances fit
    symbols = sorted(market.weights)
    liquidated = sum(
        count * market.bids[symbol]
        for symbol, count in inp.positions.items()
        if symbol not in market.weights
    )
    cash_start = (inp.cash + liquidated) / scale
    reserve = market.reserve / scale
    problem = pulp.LpProblem("plan", pulp.LpMinimize)
    counts, sold, bought = {}, {}, {}
    for n, symbol in enumerate(symbols):
        held = inp.positions.get(symbol, 0)
        most = held + math.floor(
            (inp.cash + liquidated + sum(c * market.bids[s] for s, c in inp.positions.items()))
            / market.limits[symbol]
        )
        sold[symbol] = pulp.LpVariable(f"s{n}", 0, held, cat="Integer")
        bought[symbol] = pulp.LpVariable(f"b{n}", 0, most - held, cat="Integer")
        direction = pulp.LpVariable(f"y{n}", cat="Binary")  # 1: sells, 0: buys (no round trip)
        problem += sold[symbol] <= held * direction
        problem += bought[symbol] <= (most - held) * (1 - direction)
        counts[symbol] = held - sold[symbol] + bought[symbol]
    cash = cash_start + pulp.lpSum(
        sold[s] * market.bids[s] / scale - bought[s] * market.limits[s] / scale for s in symbols
    )
    problem += cash >= reserve + 1e-9
    value = cash + pulp.lpSum(counts[s] * market.limits[s] / scale for s in symbols)
    investable = value - reserve
    gaps = []
    for n, symbol in enumerate(symbols):
        gap = pulp.LpVariable(f"u{n}", 0)
        line = counts[symbol] * market.limits[symbol] / scale - market.weights[symbol] * investable
        problem += gap >= line
        problem += gap >= -line
        gaps.append(gap)
    cash_gap = pulp.LpVariable("uc", 0)
    cash_line = cash - value + sum(market.weights.values()) * investable
    problem += cash_gap >= cash_line
    problem += cash_gap >= -cash_line
    excess = pulp.lpSum(gaps) + cash_gap - 2 * error * value
    if least_cash:
        problem += excess <= 1e-9
        problem += cash
    else:
        problem += excess
    status = problem.solve(pulp.PULP_CBC_CMD(msg=False, gapRel=0, gapAbs=1e-10))
    if pulp.LpStatus[status] != "Optimal":
        return None
    found = {
        s: held_count(inp, s) - round(sold[s].value()) + round(bought[s].value()) for s in symbols
    }
    if market.cash_after(inp, found) < market.reserve:
        return None  # CBC's tolerance let the cash dip below the reserve: not a valid plan
    return found


def held_count(inp: PlanInput, symbol: str) -> int:
    return inp.positions.get(symbol, 0)


def _percentile(values: Sequence[float], percent: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(percent / 100 * len(ordered)) - 1))
    return ordered[index]


def _row(name: str, outcomes: Sequence[Outcome]) -> str:
    errors = [100 * o.error for o in outcomes]
    idle = [o.idle_shares for o in outcomes]
    idle_pct = [o.idle_percent for o in outcomes]
    under_one = 100 * sum(1 for v in idle if v < 1) / len(idle)
    below = sum(1 for o in outcomes if o.below_reserve)
    within = 100 * sum(1 for o in outcomes if o.within_one_share) / len(outcomes)
    return (
        f"{name:<9} {statistics.median(errors):>9.4f} {_percentile(errors, 95):>9.4f}"
        f" {statistics.median(idle):>9.3f} {_percentile(idle, 95):>9.3f}"
        f" {statistics.median(idle_pct):>8.4f} {_percentile(idle_pct, 95):>8.4f}"
        f" {under_one:>8.1f}% {below:>6} {within:>8.1f}%"
    )


def _case_json(inp: PlanInput) -> str:
    return json.dumps(
        {
            "net_liquidation": inp.net_liquidation,
            "cash": inp.cash,
            "positions": dict(inp.positions),
            "quotes": {s: {"bid": q.bid, "ask": q.ask} for s, q in inp.quotes.items()},
            "targets": dict(inp.targets),
            "cash_reserve_percent": inp.cash_reserve_percent,
            "buy_slippage_percent": inp.buy_slippage_percent,
        }
    )


def time_cli(accounts: Sequence[PlanInput]) -> tuple[float, float]:
    """(wall seconds, planning seconds) for every account through one rebalance-plan process."""
    command = shutil.which("rebalance-plan")
    argv = [command] if command else [sys.executable, "-m", "event_processor.plan_cli"]
    text = "\n".join(_case_json(inp) for inp in accounts) + "\n"
    started = time.perf_counter()
    done = subprocess.run(
        [*argv, "--stats"], input=text, capture_output=True, text=True, check=True
    )
    wall = time.perf_counter() - started
    stats = json.loads(done.stderr.strip().splitlines()[-1])
    if stats["cases"] != len(accounts) or stats["errors"]:
        raise RuntimeError(f"rebalance-plan: unexpected stats {stats}")
    return wall, float(stats["planning_seconds"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-optimum", action="store_true", help="skip the integer programs")
    parser.add_argument("--cli", action="store_true", help="also time rebalance-plan")
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    accounts = [random_account(rng) for _ in range(args.accounts)]
    ours_out: list[Outcome] = []
    naive_out: list[Outcome] = []
    best_out: list[Outcome] = []
    gaps: list[float] = []
    planning = 0.0
    for inp in accounts:
        market = Market.of(inp)
        started = time.perf_counter()
        plan = plan_rebalance(inp)
        planning += time.perf_counter() - started
        mine = market.outcome(inp, ours(plan))
        ours_out.append(mine)
        naive_out.append(market.outcome(inp, naive(inp, market)))
        if not args.no_optimum:
            best = market.outcome(inp, optimum(inp, market, ours(plan)))
            best_out.append(best)
            gaps.append(mine.error - best.error)

    print(f"planner benchmark: {len(accounts)} accounts, seed {args.seed}")
    print(
        "tracking error in percent; idle cash in shares of the cheapest target and in % of NLV;"
        " in 1 sh: accounts with every target within one share of its target"
    )
    print(
        f"{'':<9} {'TE med':>9} {'TE p95':>9} {'idle med':>9} {'idle p95':>9}"
        f" {'idle%med':>8} {'idle%p95':>8} {'idle<1sh':>9} {'<resv':>6} {'in 1 sh':>9}"
    )
    print(_row("ours", ours_out))
    print(_row("naive", naive_out))
    if best_out:
        print(_row("optimum", best_out))
        exact = sum(1 for gap in gaps if gap <= SAME_ERROR)
        ratio = statistics.median(o.error for o in ours_out) / statistics.median(
            o.error for o in best_out
        )
        print(
            f"ours vs optimum: median TE ratio {ratio:.4f}; optimal in {exact}/{len(gaps)} "
            f"accounts; excess TE p95 {100 * _percentile(gaps, 95):.4f} pp, "
            f"max {100 * max(gaps):.4f} pp"
        )
    print(f"planning time: {1e6 * planning / len(accounts):.0f} us per plan (in process)")
    if args.cli:
        wall, cli_planning = time_cli(accounts)
        print(
            f"rebalance-plan, {len(accounts)} cases in one process: {wall:.3f} s wall, "
            f"{cli_planning:.3f} s planning ({len(accounts) / cli_planning:,.0f} plans/s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
