"""The rebalance planner (SPEC section 6, step 6): account + targets + quotes -> whole-share orders.

Pure: no I/O, no clock, no broker, standard library only. `docs/planner.md` explains the
objective and the algorithm with examples; in short:

* Values are taken at the price the plan can buy at (the limit price `ask x (1 + slippage)`,
  rounded up to the cent), so a planned buy turns cash into position value one for one; a sell
  receives the bid. The reserve is cash that must remain: `net_liquidation x reserve/100`.
* Each target symbol should hold `weight x (value - reserve)`, value being the account's value
  after the plan; the rest is cash. The error is the tracking error: half the sum of
  |actual weight - target weight| over every symbol and the cash line.
* Cash after the plan (buys at their limit price, sells at the bid) never goes below the
  reserve. Cash is counted in integer micro-dollars, rounded to the safe side (bids and cash
  down, limit prices and the reserve up), so no float sum can slip under it.

The plan: non-targets are liquidated; every target then gets the count that minimises the
error plus the spread of each share traded, chosen exactly by branch and bound among the
whole counts around its target, its holding and its deficit scaled to the cash, the cheapest
symbol filling in with any count; a count more than one share from its target is charged
`OFF_TARGET_PENALTY`, so every symbol ends within one share of its target wherever the cash
allows. Cash still a whole share above its target is then spent share by share where that
lowers the error most, never past a symbol's target rounded up. The spread charge is what
trading there and back would cost, so a plan's own result is the best choice from there:
planning it again plans nothing. `plan_buys_after_sells` is the same with sells ruled out,
for the second phase.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from rebalancer_shared.tracking import tracking_error

__all__ = [
    "DEFAULT_BUY_SLIPPAGE_PERCENT",
    "MAX_WEIGHT_SUM",
    "Buy",
    "Plan",
    "PlanError",
    "PlanInput",
    "Quote",
    "Replacement",
    "ReplacementLike",
    "Sell",
    "apply_replacements",
    "limit_price",
    "plan_buys_after_sells",
    "plan_rebalance",
    "tracking_error",
]

DEFAULT_BUY_SLIPPAGE_PERCENT = 0.5
MAX_WEIGHT_SUM = 1.01
"""Allocations may sum to a little over 1 (SPEC section 4); above this they are refused."""

MICROS_PER_DOLLAR = 1_000_000
"""Cash is counted in integer micro-dollars, so the reserve check is exact."""

FLOAT_NOISE_MICROS = 0.01
"""A float amount within this many micro-dollars of a whole micro-dollar is that amount (float
noise, as in 452.61 x 1e6); anything further off is rounded to the safe side."""

FLOAT_NOISE_CENTS = 1e-6
"""The same for limit prices in cents: 100.0 x 100.5 is 10050 cents, not 10051."""

SHARE_COUNT_NOISE = 1e-6
"""Fractions of a share this small are float noise when a target share count is rounded."""

IMPROVEMENT_EPSILON = 1e-6
"""Dollars of error within which two choices are equally good (float noise): of equally good
choices the planner takes the one that trades least, so ties never trade."""

MAX_PLAN_ROUNDS = 16
"""Bound on the rounds that take the weights of the plan's own result (two or three suffice)."""

OFF_TARGET_PENALTY = 1_000.0
"""Dollars of error charged per dollar a symbol ends beyond one whole share from its target.
The tracking error alone may leave the rounding of the dearer symbols on the cheapest one
(several shares of a $22 symbol when a $290 one rounds up): this makes every symbol end
within one share of its target wherever the cash allows it, and ranks plans by tracking error
among those."""

RESERVE_SEARCH_STEPS = 60
"""Bisection steps when the targets are scaled down to restore the reserve (2^-60 resolution)."""


class PlanError(ValueError):
    """The input cannot be planned; the message names the field, the symbol and the value."""


class ReplacementLike(Protocol):
    """One rule of a replacement set (SPEC section 3); the shared config model fits it."""

    @property
    def source(self) -> str: ...

    @property
    def target(self) -> str: ...

    @property
    def scale(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Replacement:
    """A replacement rule as plain data (the CLI and the tests use it)."""

    source: str
    target: str
    scale: float


@dataclass(frozen=True, slots=True)
class Quote:
    bid: float
    ask: float


@dataclass(frozen=True, slots=True)
class PlanInput:
    """Everything the planner needs: an account snapshot, quotes, targets and the settings.

    `min_trade_value` (dollars) and `min_drift_percent` (of net liquidation) skip small trades;
    liquidating a non-target and selling to restore the reserve always happen.
    """

    net_liquidation: float
    cash: float
    positions: Mapping[str, int]
    quotes: Mapping[str, Quote]
    targets: Mapping[str, float]
    cash_reserve_percent: float
    buy_slippage_percent: float = DEFAULT_BUY_SLIPPAGE_PERCENT
    replacements: Sequence[ReplacementLike] = ()
    min_trade_value: float = 0.0
    min_drift_percent: float = 0.0


@dataclass(frozen=True, slots=True)
class Sell:
    symbol: str
    quantity: int


@dataclass(frozen=True, slots=True)
class Buy:
    symbol: str
    quantity: int
    limit_price: float


@dataclass(frozen=True, slots=True)
class Plan:
    """The orders, sells first; what the account should look like after them.

    `expected_cash_after` counts sells at the bid and buys at their limit price, so the fills
    can only leave more cash. `target_weights` are the strategy's weights after replacements
    (not yet scaled by the reserve); `tracking_error` is that of `positions_after`.
    """

    sells: tuple[Sell, ...]
    buys: tuple[Buy, ...]
    expected_cash_after: float
    cash_reserve: float
    target_weights: Mapping[str, float] = field(default_factory=dict)
    positions_after: Mapping[str, int] = field(default_factory=dict)
    tracking_error: float = 0.0


def plan_rebalance(inp: PlanInput) -> Plan:
    """Plan the sells and buys that bring the account closest to its targets (see module doc)."""
    book = _Book.from_input(inp)
    return book.plan(_plan_counts(book, may_sell=True))


def plan_buys_after_sells(inp: PlanInput) -> list[Buy]:
    """Phase two of SPEC section 6 step 7: the buys, planned again from the cash the sells
    actually brought (`inp.cash`, `inp.positions` as they are now). Nothing is sold; the
    objective and the reserve are those of `plan_rebalance`, which plans its own buys with this
    same function, so equal cash gives equal buys."""
    book = _Book.from_input(inp)
    return list(book.plan(_plan_counts(book, may_sell=False)).buys)


def limit_price(ask: float, buy_slippage_percent: float) -> float:
    """The limit price a buy is sent with: ask x (1 + slippage/100), rounded up to the cent."""
    return _limit_cents(ask, buy_slippage_percent) / 100


def apply_replacements(
    targets: Mapping[str, float], replacements: Sequence[ReplacementLike]
) -> dict[str, float]:
    """The targets with a replacement set applied (SPEC section 3).

    Each rule moves its source's weight x scale to its target. When that adds weight, the
    symbols not replaced shrink in proportion so the total stays what it was; when it removes
    weight, the difference stays in cash. Weights landing on one symbol add up. Symbols with
    weight 0 are dropped. Rules whose source is not a target change nothing.
    """
    _check_rules(replacements)
    weights = {symbol: weight for symbol, weight in targets.items() if weight > 0}
    active = [rule for rule in replacements if rule.source in weights]
    if not active:
        return weights
    moved = {rule.source: weights.pop(rule.source) for rule in active}
    added = sum(moved[rule.source] * (rule.scale - 1.0) for rule in active)
    kept = sum(weights.values())
    if added > 0:
        if added > kept * (1 + 1e-12):
            names = ", ".join(f"{r.source} -> {r.target} x {r.scale:g}" for r in active)
            raise PlanError(
                f"replacements: {names} add weight {added:.6g} but the symbols not replaced "
                f"hold only {kept:.6g}; lower the scale or replace fewer symbols"
            )
        shrink = max(0.0, (kept - added) / kept)
        weights = {symbol: weight * shrink for symbol, weight in weights.items()}
    for rule in active:
        weights[rule.target] = weights.get(rule.target, 0.0) + moved[rule.source] * rule.scale
    return {symbol: weight for symbol, weight in weights.items() if weight > 0}


def _check_rules(replacements: Sequence[ReplacementLike]) -> None:
    sources: set[str] = set()
    for rule in replacements:
        where = f"replacements: {rule.source!r} -> {rule.target!r}"
        if not _is_symbol(rule.source) or not _is_symbol(rule.target):
            raise PlanError(f"{where}: source and target must be non-empty symbols")
        if rule.source == rule.target:
            raise PlanError(f"{where}: a symbol cannot replace itself")
        if not _is_number(rule.scale) or not rule.scale > 0:
            raise PlanError(f"{where}: scale {rule.scale!r} is not a positive number")
        if rule.source in sources:
            raise PlanError(f"{where}: {rule.source} is replaced twice")
        sources.add(rule.source)
    for rule in replacements:
        if rule.target in sources:
            raise PlanError(
                f"replacements: {rule.source} -> {rule.target}: {rule.target} is itself "
                "replaced; chains of replacements are not supported"
            )


# --- input checks -------------------------------------------------------------------------


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_symbol(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _number(name: str, value: object, low: float | None = None, high: float | None = None) -> float:
    if not _is_number(value):
        raise PlanError(f"{name}: {value!r} is not a finite number")
    number = float(value)  # type: ignore[arg-type]  # _is_number checked int | float
    if (low is not None and number < low) or (high is not None and number > high):
        bounds = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise PlanError(f"{name}: {value!r} is not {bounds}")
    return number


def _checked_quote(symbol: str, quote: object) -> Quote:
    if not isinstance(quote, Quote):
        raise PlanError(f"quotes: {symbol}: {quote!r} is not a Quote(bid, ask)")
    for side in ("bid", "ask"):
        price = getattr(quote, side)
        if not _is_number(price):
            raise PlanError(f"quotes: {symbol} {side} {price!r} is not a finite number")
        if not price > 0:
            raise PlanError(f"quotes: {symbol} {side} {price!r} is not a positive price")
    if quote.ask < quote.bid:
        raise PlanError(f"quotes: {symbol} is crossed (bid {quote.bid!r} > ask {quote.ask!r})")
    return quote


def _checked_targets(targets: Mapping[str, float]) -> dict[str, float]:
    for symbol, weight in targets.items():
        if not _is_symbol(symbol):
            raise PlanError(f"targets: {symbol!r} is not a symbol")
        _number(f"targets: {symbol} weight", weight, 0.0, 1.0)
    total = math.fsum(targets.values())
    if total > MAX_WEIGHT_SUM:
        raise PlanError(f"targets: weights sum to {total:.6g}, above {MAX_WEIGHT_SUM}")
    # A sum just above 1 is rounding at the source: scaled to 1, as the processor does with
    # the allocations it fetches, so that every target can be reached.
    scale = 1.0 / total if total > 1.0 else 1.0
    return {symbol: float(weight) * scale for symbol, weight in targets.items() if weight > 0}


def _checked_positions(positions: Mapping[str, int]) -> dict[str, int]:
    held: dict[str, int] = {}
    for symbol, quantity in positions.items():
        if not _is_symbol(symbol):
            raise PlanError(f"positions: {symbol!r} is not a symbol")
        if not isinstance(quantity, int) or isinstance(quantity, bool):
            raise PlanError(f"positions: {symbol} quantity {quantity!r} is not a whole number")
        if quantity < 0:
            raise PlanError(
                f"positions: {symbol} is {quantity} (short); short positions are not supported"
            )
        if quantity:
            held[symbol] = quantity
    return held


# --- money in integers ----------------------------------------------------------------------


def _micros(dollars: float, *, round_up: bool) -> int:
    scaled = dollars * MICROS_PER_DOLLAR
    nearest = round(scaled)
    if abs(scaled - nearest) <= FLOAT_NOISE_MICROS:
        return int(nearest)
    return math.ceil(scaled) if round_up else math.floor(scaled)


def _limit_cents(ask: float, buy_slippage_percent: float) -> int:
    cents = ask * (100.0 + buy_slippage_percent)  # ask x (1 + slippage/100), in cents
    nearest = round(cents)
    if abs(cents - nearest) <= FLOAT_NOISE_CENTS:
        return int(nearest)
    return math.ceil(cents)


# --- the planning book ----------------------------------------------------------------------


@dataclass(slots=True)
class _Book:
    """The validated input as parallel lists, one entry per symbol involved (sorted)."""

    symbols: list[str]
    targets: dict[str, float]  # after replacements, not scaled by the reserve
    weight: list[float]  # target weight (after replacements); 0 for a non-target
    held: list[int]
    bid_micros: list[int]
    bid: list[float]  # dollars, as counted (rounded down to the micro-dollar)
    limit_micros: list[int]
    limit: list[float]  # dollars
    cash_micros: int
    reserve_micros: int
    net_liquidation: float
    min_trade_value: float
    min_drift_percent: float
    target_index: list[int]  # indexes of the target symbols

    @classmethod
    def from_input(cls, inp: PlanInput) -> _Book:
        net_liquidation = _number("net_liquidation", inp.net_liquidation)
        if not net_liquidation > 0:
            raise PlanError(f"net_liquidation: {inp.net_liquidation!r} is not positive")
        cash = _number("cash", inp.cash)
        reserve_percent = _number("cash_reserve_percent", inp.cash_reserve_percent, 0.0, 100.0)
        slippage = _number("buy_slippage_percent", inp.buy_slippage_percent, 0.0, 100.0)
        min_trade_value = _number("min_trade_value", inp.min_trade_value, 0.0)
        min_drift_percent = _number("min_drift_percent", inp.min_drift_percent, 0.0, 100.0)
        held = _checked_positions(inp.positions)
        targets = apply_replacements(_checked_targets(inp.targets), inp.replacements)
        quotes = {symbol: _checked_quote(symbol, quote) for symbol, quote in inp.quotes.items()}
        symbols = sorted(held.keys() | targets.keys())
        for symbol in symbols:
            if symbol not in quotes:
                role = "a target" if symbol in targets else "held, not a target"
                raise PlanError(
                    f"quotes: no quote for {symbol} ({role}); every held and target symbol "
                    "needs a bid and an ask"
                )
        cents = [_limit_cents(quotes[symbol].ask, slippage) for symbol in symbols]
        bids = [_micros(quotes[symbol].bid, round_up=False) for symbol in symbols]
        return cls(
            symbols=symbols,
            targets=targets,
            weight=[targets.get(symbol, 0.0) for symbol in symbols],
            held=[held.get(symbol, 0) for symbol in symbols],
            bid_micros=bids,
            bid=[bid / MICROS_PER_DOLLAR for bid in bids],
            limit_micros=[cent * (MICROS_PER_DOLLAR // 100) for cent in cents],
            limit=[cent / 100 for cent in cents],
            cash_micros=_micros(cash, round_up=False),
            reserve_micros=_micros(net_liquidation * reserve_percent / 100, round_up=True),
            net_liquidation=net_liquidation,
            min_trade_value=min_trade_value,
            min_drift_percent=min_drift_percent,
            target_index=[i for i, symbol in enumerate(symbols) if symbol in targets],
        )

    def worth_trading(self, i: int, count: int) -> bool:
        """Whether moving symbol i from its holding to `count` clears the minimum trade value
        and the minimum drift (a sell is worth the bid, a buy the limit price)."""
        change = count - self.held[i]
        value = -change * self.bid[i] if change < 0 else change * self.limit[i]
        return (
            value >= self.min_trade_value
            and value * 100 >= self.min_drift_percent * self.net_liquidation
        )

    def cash_after(self, counts: Sequence[int]) -> int:
        """Cash in micro-dollars once the account holds `counts`: sells at the bid, buys at
        the limit price."""
        cash = self.cash_micros
        for held, count, bid, limit in zip(
            self.held, counts, self.bid_micros, self.limit_micros, strict=True
        ):
            cash += (held - count) * (bid if count < held else limit)
        return cash

    def value(self, cash_micros: int, counts: Sequence[int]) -> int:
        """Cash plus every position at its limit price: the total the weights are taken of."""
        return cash_micros + sum(
            count * price for count, price in zip(counts, self.limit_micros, strict=True)
        )

    def plan(self, counts: Sequence[int]) -> Plan:
        sells: list[Sell] = []
        buys: list[Buy] = []
        for i, symbol in enumerate(self.symbols):
            if counts[i] < self.held[i]:
                sells.append(Sell(symbol, self.held[i] - counts[i]))
            elif counts[i] > self.held[i]:
                buys.append(Buy(symbol, counts[i] - self.held[i], self.limit[i]))
        cash_after = self.cash_after(counts) / MICROS_PER_DOLLAR
        after = dict(zip(self.symbols, counts, strict=True))
        total = self.value(self.cash_after(counts), counts)
        invested = (total - self.reserve_micros) / total if total > 0 else 0.0
        scaled = {s: w * invested for s, w in zip(self.symbols, self.weight, strict=True) if w}
        prices = dict(zip(self.symbols, self.limit, strict=True))
        has_value = total > 0
        return Plan(
            sells=tuple(sells),
            buys=tuple(buys),
            expected_cash_after=cash_after,
            cash_reserve=self.reserve_micros / MICROS_PER_DOLLAR,
            target_weights=dict(self.targets),
            positions_after=after,
            tracking_error=tracking_error(after, cash_after, prices, scaled) if has_value else 0.0,
        )


# --- the plan -------------------------------------------------------------------------------


def _plan_counts(book: _Book, *, may_sell: bool) -> list[int]:
    """Share counts after the plan. Trades too small for the thresholds are skipped (their
    symbol held as it is) and the rest planned again without them, until none is left.

    Which trades end up skipped can depend on the order they were found in, so when some
    were, the result is planned once more as it will stand, and what that plan still finds
    worth trading joins this plan: a later plan of the result then finds nothing to do.
    """
    counts, skipped = _plan_skipping_small(book, may_sell=may_sell)
    if not skipped:
        return counts
    after = dataclasses.replace(book, held=counts, cash_micros=book.cash_after(counts))
    return _plan_skipping_small(after, may_sell=may_sell)[0]


def _plan_skipping_small(book: _Book, *, may_sell: bool) -> tuple[list[int], set[int]]:
    skipped: set[int] = set()
    while True:
        if may_sell:
            counts, restored = _plan_with_sells(book, skipped)
        else:
            value = book.value(book.cash_micros, book.held)
            chosen = _search(book, value, book.held, skipped, may_sell=False)
            counts = chosen if chosen is not None else list(book.held)  # cash below the reserve
            restored = set()
        small = {
            i
            for i in book.target_index
            if counts[i] != book.held[i]
            and i not in restored
            and not book.worth_trading(i, counts[i])
        }
        if not small - skipped:
            return counts, skipped
        skipped |= small


def _plan_with_sells(book: _Book, skipped: set[int]) -> tuple[list[int], set[int]]:
    """Plan sells and buys; also the symbols sold to restore the reserve.

    The weights are taken of the account's value after the plan, and a sell loses the gap
    between limit price and bid, so the plan is repeated at the value its own result has until
    it no longer changes: that is the value a later plan of the result sees, which is what makes
    a plan's result plan no trade.
    """
    start = [held if weight > 0 else 0 for held, weight in zip(book.held, book.weight, strict=True)]
    value = book.value(book.cash_after(start), start)
    previous: list[int] | None = None
    restored: set[int] = set()
    counts = start
    seen: list[list[int]] = []
    for _ in range(MAX_PLAN_ROUNDS):
        restored = set()
        chosen = _search(book, value, start, skipped, may_sell=True)
        if chosen is None:  # no candidate keeps the reserve: scale every target down first
            counts, restored = _restore_reserve(book, start, value, skipped)
            chosen = _search(book, value, counts, skipped | restored, may_sell=True)
        counts = chosen if chosen is not None else counts
        if counts == previous:
            break
        if counts in seen and not restored:
            # A cycle: each plan's value makes the other the better choice (a target on the
            # edge of "within one share" as the spread the sells lose moves it). Take a member
            # whose result, planned again, stays as it is.
            return _settled(book, seen[seen.index(counts) :], skipped), restored
        seen.append(counts)
        previous = counts
        value = book.value(book.cash_after(counts), counts)
    if restored:
        return counts, restored
    return _settled(book, [counts], skipped), restored


def _settled(book: _Book, cycle: list[list[int]], skipped: set[int]) -> list[int]:
    """A plan that a plan of its own result keeps: the first such member of `cycle`, else
    the first such plan among what the members' results would be planned to, and so on
    (each is reachable from the book directly, with no less cash than through the member)."""
    candidates = cycle
    for _ in range(MAX_PLAN_ROUNDS):
        planned_again: list[list[int]] = []
        for counts in candidates:
            again = _replanned(book, counts, skipped)
            if again is None or again == counts:
                return counts
            if book.cash_after(again) >= book.reserve_micros and again not in planned_again:
                planned_again.append(again)
        if not planned_again:
            break
        candidates = planned_again
    return cycle[-1]


def _replanned(book: _Book, counts: list[int], skipped: set[int]) -> list[int] | None:
    """What a plan of the result of `counts` would change the counts to."""
    after = dataclasses.replace(book, held=counts, cash_micros=book.cash_after(counts))
    value = after.value(after.cash_micros, counts)
    return _search(after, value, counts, skipped, may_sell=True)


def _target_shares(book: _Book, i: int, value_micros: int) -> float:
    """Symbol i's target in (fractional) shares: weight x (value - reserve) / limit price."""
    return book.weight[i] * (value_micros - book.reserve_micros) / book.limit_micros[i]


def _at_least(shares: float) -> int:
    """The fewest whole shares at or above `shares`."""
    return max(0, math.ceil(shares - SHARE_COUNT_NOISE))


def _restore_reserve(
    book: _Book, start: list[int], value_micros: int, skipped: set[int]
) -> tuple[list[int], set[int]]:
    """`start` unless even every target trimmed to its target leaves the cash below the
    reserve; then sell more, every target scaled down alike, until the cash covers it.

    Restoring the reserve ignores the minimum trade thresholds: the reserve is the user's
    safety margin. If even selling everything leaves less, everything is sold and nothing bought.
    """
    targets = [_target_shares(book, i, value_micros) for i in range(len(start))]

    def scaled(scale: float) -> list[int]:
        return [
            min(count, _at_least(scale * target))
            for count, target in zip(start, targets, strict=True)
        ]

    if book.cash_after(scaled(1.0)) >= book.reserve_micros:
        return list(start), set()
    low, high = 0.0, 1.0  # the cash covers the reserve at `low` (or nothing can), not at `high`
    for _ in range(RESERVE_SEARCH_STEPS):
        middle = (low + high) / 2
        if book.cash_after(scaled(middle)) >= book.reserve_micros:
            low = middle
        else:
            high = middle
    restored = scaled(low)
    return restored, {i for i, count in enumerate(restored) if count < start[i]} - skipped


def _search(
    book: _Book, value_micros: int, start: Sequence[int], fixed: set[int], *, may_sell: bool
) -> list[int] | None:
    """The best share counts at a fixed total value, cash kept at the reserve or above.

    In dollars the error is (sum over symbols |deficit| + |cash excess|) / (2 x value), where a
    symbol's deficit is its target value minus its value and the cash excess is the cash above
    its target. Each symbol may end at a few candidate counts: the whole counts around its
    target (and one below), what it holds, and (when the cash cannot reach every target) its
    deficit scaled to the cash; the cheapest symbol may take any count. The choice minimises
    the error plus, for every share traded, that share's spread
    (limit price minus bid), exactly, by branch and bound. The spread charge is what trading
    there and back would cost; with it a plan's own result is always the best choice from
    there, so planning again plans nothing. Then cash still a whole share above its target is
    spent where a share lowers the error most or leaves it as it is.
    """
    counts = list(start)
    movable = [i for i in book.target_index if i not in fixed]
    if not movable:
        return counts if book.cash_after(counts) >= book.reserve_micros else None
    for i in movable:
        counts[i] = book.held[i]
    chosen = _Choice(book, value_micros, counts, movable, may_sell=may_sell).best()
    if chosen is None:
        return None
    for i, count in chosen.items():
        counts[i] = count
    return _spend_spare(book, value_micros, counts, movable)


SEARCH_NODE_BUDGET = 200_000
"""Branch-and-bound nodes before the best plan found so far is taken (~1 s in CPython)."""


class _Choice:
    """Exact choice of counts by branch and bound.

    Every movable symbol but the cheapest takes one of a few candidate counts; the cheapest,
    the filler, takes the best count of all given the cash the others leave (its error is
    piecewise linear in its count, so the best is at a breakpoint). Symbols are visited most
    expensive first, an order that depends on prices only, so a later plan of the result
    searches the same space.
    """

    def __init__(
        self, book: _Book, value_micros: int, base: list[int], movable: list[int], *, may_sell: bool
    ) -> None:
        self.book = book
        self.may_sell = may_sell
        investable = (value_micros - book.reserve_micros) / MICROS_PER_DOLLAR
        self.investable = investable
        self.cash_target = value_micros / MICROS_PER_DOLLAR - investable * sum(book.weight)
        self.cash = book.cash_after(base)  # micro-dollars, every movable symbol as held
        self.reserve = book.reserve_micros
        room = (self.cash - self.reserve) / MICROS_PER_DOLLAR
        excess = self.cash / MICROS_PER_DOLLAR - self.cash_target
        deficits = {i: book.weight[i] * investable - book.held[i] * book.limit[i] for i in movable}
        wanted = sum(d for d in deficits.values() if d > 0)
        scale = min(1.0, max(0.0, min(room, excess)) / wanted) if wanted > 0 else 0.0
        ordered = sorted(movable, key=lambda i: (-book.limit_micros[i], book.symbols[i]))
        self.symbols = ordered[:-1]
        self.filler = ordered[-1]
        self.order = ordered
        # The one-share band is taken at each plan's own value: cash plus positions at limit
        # prices once it has filled. A buy leaves that value as it is; a sell loses its spread.
        # So a plan's value lies between `most_value` (nothing sold) and that less every
        # movable holding's spread; the bounds charge the least penalty over that range.
        moving = set(movable)
        self.unmoved_value = sum(
            count * book.limit_micros[i] for i, count in enumerate(base) if i not in moving
        )
        most_value = self.cash + self.unmoved_value
        most_value += sum(book.held[i] * book.limit_micros[i] for i in movable)
        least_value = most_value - sum(
            book.held[i] * (book.limit_micros[i] - book.bid_micros[i]) for i in movable
        )
        self.shares_per_micro = {
            i: book.weight[i] / book.limit_micros[i] for i in movable
        }  # target shares per micro-dollar of value above the reserve
        self.band = {
            i: (
                self.shares_per_micro[i] * (least_value - book.reserve_micros),
                self.shares_per_micro[i] * (most_value - book.reserve_micros),
            )
            for i in movable
        }
        # options[k]: (cash change in micro-dollars, error + spread charge + least penalty,
        # count, dollars traded, error + spread charge) per candidate
        self.options: list[list[tuple[int, float, int, float, float]]] = []
        for i in self.symbols:
            held = book.held[i]
            target = _target_shares(book, i, value_micros)
            ceiling = _at_least(target)
            floor = ceiling - 1 if ceiling > target else ceiling
            candidates = {held, ceiling, floor, max(0, floor - 1)}
            if scale < 1.0 and deficits[i] > 0:
                # halves round down, so a plan's own result never rounds up into a new buy
                shares = deficits[i] * scale / book.limit[i]
                candidates.add(held + max(0, math.ceil(shares - 0.5 - SHARE_COUNT_NOISE)))
            options = [self._option(i, count) for count in candidates if count >= held or may_sell]
            options.sort(key=lambda option: option[1])  # cheapest first: good bounds early
            self.options.append(options)
        n = len(self.symbols)
        self.least_cost = [0.0] * (n + 1)
        self.least_change = [0] * (n + 1)
        self.most_change = [0] * (n + 1)
        for depth in range(n - 1, -1, -1):
            options = self.options[depth]
            self.least_cost[depth] = self.least_cost[depth + 1] + min(o[1] for o in options)
            self.least_change[depth] = self.least_change[depth + 1] + min(o[0] for o in options)
            self.most_change[depth] = self.most_change[depth + 1] + max(o[0] for o in options)
        # Whatever the filler does, its error plus the cash line's is at least the distance of
        # the cash the others leave from this point (a buy moves value one for one; a sell
        # loses the spread, which its charge pays back).
        filler_gap = book.held[self.filler] * book.limit[self.filler] - self._goal(self.filler)
        self.balance_point = self.cash_target - filler_gap
        filler = self.filler
        self.filler_held = book.held[filler]
        self.filler_limit = book.limit[filler]
        self.filler_bid = book.bid[filler]
        self.filler_limit_micros = book.limit_micros[filler]
        self.filler_bid_micros = book.bid_micros[filler]
        self.filler_spread = book.limit[filler] - book.bid[filler]
        self.filler_goal = self._goal(filler)
        self.filler_shares = self.filler_goal / book.limit[filler]
        self.filler_most_cash = self.filler_held * self.filler_bid_micros if may_sell else 0
        self.best_error = math.inf
        self.best_traded = math.inf
        self.best_pick: list[int] | None = None
        self.pick = [0] * n
        self.nodes = 0

    def best(self) -> dict[int, int] | None:
        """Symbol index -> count with the least error plus spread charges (None: nothing keeps
        the cash at the reserve); of equally good ones, the one that trades least."""
        self._walk(0, self.cash, 0.0, 0.0, 0.0, 0)
        self._consider_standing_still()
        if self.best_pick is None:
            return None
        chosen = dict(zip(self.symbols, self.best_pick[:-1], strict=True))
        chosen[self.filler] = self.best_pick[-1]
        return chosen

    def _goal(self, i: int) -> float:
        return self.book.weight[i] * self.investable

    def _option(self, i: int, count: int) -> tuple[int, float, int, float, float]:
        book = self.book
        held = book.held[i]
        price = book.bid_micros[i] if count < held else book.limit_micros[i]
        charge = (book.limit[i] - book.bid[i]) * abs(count - held)
        cost = abs(count * book.limit[i] - self._goal(i)) + charge
        lowest, highest = self.band[i]
        least_off = max(count - highest, lowest - count) - 1.0  # beyond one share at best
        least_penalty = OFF_TARGET_PENALTY * least_off * book.limit[i] if least_off > 0 else 0.0
        traded = abs(count - held) * book.limit[i]
        return (held - count) * price, cost + least_penalty, count, traded, cost

    def _walk(
        self, depth: int, cash: int, cost: float, traded: float, error: float, invested: int
    ) -> None:
        """`cost` bounds the plan's cost from below (least penalties); `error` is its error
        and spread charges alone; `invested` the picked counts' value at limit prices."""
        # A branch is cut when even its bound is worse than the best so far; within the float
        # tolerance it is a tie and is explored, since it may trade less.
        self.nodes += 1
        if self.nodes > SEARCH_NODE_BUDGET and self.best_pick is not None:
            # Many targets: the search is exponential in their number. Options are visited
            # best first, so the plan found by now is good; a plan in time beats a perfect one
            # after the close. Every plan still keeps the reserve (checked in _fill).
            return
        if depth == len(self.symbols):
            line = abs(cash / MICROS_PER_DOLLAR - self.balance_point)
            if cost + line <= self.best_error + IMPROVEMENT_EPSILON:
                self._fill(cash, traded, error, invested)
            return
        if cash + self.most_change[depth] + self.filler_most_cash < self.reserve:
            return  # even the sells that bring most cannot keep the reserve
        low = (cash + self.least_change[depth]) / MICROS_PER_DOLLAR - self.balance_point
        high = (cash + self.most_change[depth]) / MICROS_PER_DOLLAR - self.balance_point
        cash_line = low if low > 0 else (-high if high < 0 else 0.0)
        if cost + self.least_cost[depth] + cash_line > self.best_error + IMPROVEMENT_EPSILON:
            return
        limit = self.book.limit_micros[self.symbols[depth]]
        for change, option_cost, count, option_traded, option_error in self.options[depth]:
            self.pick[depth] = count
            self._walk(
                depth + 1,
                cash + change,
                cost + option_cost,
                traded + option_traded,
                error + option_error,
                invested + count * limit,
            )

    def _fill(self, cash: int, traded: float, error: float, invested: int) -> None:
        """The filler's best count given `cash`; keeps the pick if it beats the best so far."""
        held, limit, bid = self.filler_held, self.filler_limit_micros, self.filler_bid_micros
        if cash >= self.reserve:
            most = held + (cash - self.reserve) // limit
        elif self.may_sell and bid:
            most = held - -(-(self.reserve - cash) // bid)  # sell enough to cover the reserve
        else:
            return
        least = 0 if self.may_sell else held
        if most < least:
            return
        # The plan's own value unless the filler sells (a buy leaves it as it is).
        kept_value = cash + self.unmoved_value + invested + held * limit
        # The error is piecewise linear in the count, with breakpoints at the target, at the
        # holding and where the cash line crosses its target: the best count is next to one;
        # the penalty adds breakpoints one share either side of the target at the plan's value.
        gap = cash / MICROS_PER_DOLLAR - self.cash_target
        step = int(gap // self.filler_limit) if gap >= 0 else -int(-gap // self.filler_bid)
        shares = self.filler_shares
        own = self.shares_per_micro[self.filler] * (kept_value - self.reserve)
        points = {held, least, most, math.floor(shares), math.ceil(shares)}
        points.update((math.floor(own), math.ceil(own), math.ceil(own - 1), math.floor(own + 1)))
        points.update((held + step - 1, held + step, held + step + 1))
        for count in points:
            if least <= count <= most:
                change, option_error = self._filler_option(count)
                value = kept_value - max(0, held - count) * (limit - bid)
                spare = cash + change - self.reserve
                penalty = self._penalty(value, spare, (*self.pick, count))
                line = abs((cash + change) / MICROS_PER_DOLLAR - self.cash_target)
                total = error + option_error + penalty + line
                moved = traded + abs(count - held) * self.filler_limit
                if total < self.best_error - IMPROVEMENT_EPSILON or (
                    total <= self.best_error + IMPROVEMENT_EPSILON
                    and moved < self.best_traded - IMPROVEMENT_EPSILON
                ):
                    self.best_error = min(total, self.best_error)
                    self.best_traded = moved
                    self.best_pick = [*self.pick, count]

    def _penalty(
        self, value_micros: int, spare_micros: int, counts: Sequence[int], *, still: bool = False
    ) -> float:
        """OFF_TARGET_PENALTY of a whole plan (`counts` in `self.order`) whose own value and
        cash above the reserve are given. With `still` (the plan that trades nothing), a
        holding below its target is not charged when the cash cannot buy one more share."""
        book, investable = self.book, value_micros - self.book.reserve_micros
        total = 0.0
        for i, count in zip(self.order, counts, strict=True):
            off = count - self.shares_per_micro[i] * investable
            if still and off < 0 and spare_micros < book.limit_micros[i]:
                continue
            beyond = abs(off) - 1.0
            if beyond > SHARE_COUNT_NOISE:
                total += OFF_TARGET_PENALTY * beyond * book.limit[i]
        return total

    def _consider_standing_still(self) -> None:
        """Take the plan that trades nothing when it is as good, not charging it for a holding
        below its target that the cash cannot buy a share of. Otherwise the only way to that
        share would be to sell another symbol, and the value a plan is measured at depends on
        what it sells: from the result of such a trade, the trade back can look as needed, and
        planning a plan's result again would trade each time. The promise is the same: within
        one share of the target where the cash allows."""
        if self.cash < self.reserve:
            return
        held = [self.book.held[i] for i in self.order]
        error = sum(self._option(i, self.book.held[i])[4] for i in self.symbols)
        error += self._filler_option(self.filler_held)[1]
        error += abs(self.cash / MICROS_PER_DOLLAR - self.cash_target)
        value = self.cash + self.unmoved_value
        value += sum(
            count * self.book.limit_micros[i] for i, count in zip(self.order, held, strict=True)
        )
        total = error + self._penalty(value, self.cash - self.reserve, held, still=True)
        if total <= self.best_error + IMPROVEMENT_EPSILON:
            self.best_error = min(total, self.best_error)
            self.best_traded = 0.0
            self.best_pick = held  # the filler is last in self.order

    def _filler_option(self, count: int) -> tuple[int, float]:
        """The filler at `count`: cash change and error plus spread charge (no penalty)."""
        held = self.filler_held
        if count < held:
            change = (held - count) * self.filler_bid_micros
            charge = self.filler_spread * (held - count)
        else:
            change = (held - count) * self.filler_limit_micros
            charge = self.filler_spread * (count - held)
        return change, abs(count * self.filler_limit - self.filler_goal) + charge


def _spend_spare(book: _Book, value_micros: int, start: list[int], movable: list[int]) -> list[int]:
    """Use cash a whole share above its target: first cancel planned sells it makes needless,
    then buy the share that lowers the error most, or leaves it as it is. Never past a
    symbol's target rounded up: spare cash stays cash rather than pile onto one symbol (a share
    bought with spare cash would move weight from one over-weight line to another)."""
    counts = list(start)
    investable = (value_micros - book.reserve_micros) / MICROS_PER_DOLLAR
    cash = book.cash_after(counts)
    excess = (
        cash / MICROS_PER_DOLLAR - value_micros / MICROS_PER_DOLLAR + investable * sum(book.weight)
    )
    deficit = {i: book.weight[i] * investable - counts[i] * book.limit[i] for i in movable}
    while True:
        pick, best = -1, (False, -math.inf, -math.inf)
        for i in movable:
            if deficit[i] < -IMPROVEMENT_EPSILON:
                continue  # at its target or above: one share more is more than one over
            cancels = counts[i] < book.held[i]
            paid = book.bid_micros[i] if cancels else book.limit_micros[i]
            if cash - paid < book.reserve_micros:
                continue
            if excess - paid / MICROS_PER_DOLLAR < -IMPROVEMENT_EPSILON:
                continue
            gain = abs(deficit[i]) - abs(deficit[i] - book.limit[i])  # error removed
            if (cancels, gain, deficit[i]) > best:
                pick, best = i, (cancels, gain, deficit[i])
        if pick < 0:
            return counts
        paid = book.bid_micros[pick] if counts[pick] < book.held[pick] else book.limit_micros[pick]
        counts[pick] += 1
        cash -= paid
        excess -= paid / MICROS_PER_DOLLAR
        deficit[pick] -= book.limit[pick]
