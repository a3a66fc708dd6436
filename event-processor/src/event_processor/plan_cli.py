"""`rebalance-plan`: the planner as a JSON-in / JSON-out command (SPEC section 6, step 6).

Reads cases from stdin, one JSON object per line (JSON Lines; a single object, even spread
over several lines, works too) and writes one JSON object per line, in the same order::

    {"sells": [{"symbol": "IEF", "quantity": 40}],
     "buys": [{"symbol": "SPY", "quantity": 12, "limit_price": 452.63}],
     "expected_cash_after": 1021.36}

or `{"error": "line 3: ..."}` for a case that cannot be planned; the exit status is then 1.

Input keys: net_liquidation, cash, positions {symbol: shares}, quotes {symbol: {"bid", "ask"}},
targets {symbol: weight}, cash_reserve_percent; optional buy_slippage_percent (default 0.5),
replacements [{"source", "target", "scale"}], min_trade_value and min_drift_percent (default 0).
Unknown keys are refused, so a misspelt setting cannot silently fall back to a default.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

from event_processor.planner import (
    DEFAULT_BUY_SLIPPAGE_PERCENT,
    Plan,
    PlanError,
    PlanInput,
    Quote,
    Replacement,
    plan_rebalance,
)

REQUIRED_KEYS = (
    "net_liquidation",
    "cash",
    "positions",
    "quotes",
    "targets",
    "cash_reserve_percent",
)
OPTIONAL_KEYS = ("buy_slippage_percent", "replacements", "min_trade_value", "min_drift_percent")


def parse_case(case: object) -> PlanInput:
    """One input object as a PlanInput; PlanError names the key and the value that is wrong."""
    if not isinstance(case, dict):
        raise PlanError(f"expected a JSON object, got {_json_type(case)}")
    missing = [key for key in REQUIRED_KEYS if key not in case]
    if missing:
        raise PlanError(f"missing key(s): {', '.join(missing)}")
    unknown = sorted(set(case) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS))
    if unknown:
        raise PlanError(f"unknown key(s): {', '.join(unknown)}")
    return PlanInput(
        net_liquidation=_number(case, "net_liquidation"),
        cash=_number(case, "cash"),
        positions=_positions(case["positions"]),
        quotes=_quotes(case["quotes"]),
        targets=_targets(case["targets"]),
        cash_reserve_percent=_number(case, "cash_reserve_percent"),
        buy_slippage_percent=_number(case, "buy_slippage_percent", DEFAULT_BUY_SLIPPAGE_PERCENT),
        replacements=_replacements(case.get("replacements", [])),
        min_trade_value=_number(case, "min_trade_value", 0.0),
        min_drift_percent=_number(case, "min_drift_percent", 0.0),
    )


def plan_as_json(plan: Plan) -> dict[str, Any]:
    return {
        "sells": [{"symbol": sell.symbol, "quantity": sell.quantity} for sell in plan.sells],
        "buys": [
            {"symbol": buy.symbol, "quantity": buy.quantity, "limit_price": buy.limit_price}
            for buy in plan.buys
        ],
        "expected_cash_after": plan.expected_cash_after,
    }


def run(text: str, out: TextIO) -> tuple[int, int, float]:
    """Plan every case in `text`, writing one line each; (cases, errors, seconds planning)."""
    cases = _cases(text)
    errors = 0
    planning = 0.0
    for line, case in cases:
        try:
            if isinstance(case, _Unreadable):
                raise PlanError(f"not valid JSON: {case.reason}")
            inp = parse_case(case)
            started = time.perf_counter()
            plan = plan_rebalance(inp)
            planning += time.perf_counter() - started
            answer = plan_as_json(plan)
        except PlanError as error:
            errors += 1
            answer = {"error": f"line {line}: {error}"}
        out.write(json.dumps(answer, allow_nan=False))
        out.write("\n")
    return len(cases), errors, planning


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="rebalance-plan",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="Input and output are described in docs/planner.md.",
    )
    parser.add_argument(
        "--stats",
        action="store_true",
        help="after the plans, write {cases, errors, planning_seconds} as JSON to stderr",
    )
    args = parser.parse_args(argv)
    text = sys.stdin.read()
    if not text.strip():
        print("rebalance-plan: no input: write one JSON object per line to stdin", file=sys.stderr)
        return 2
    cases, errors, planning = run(text, sys.stdout)
    sys.stdout.flush()
    if args.stats:
        stats = {"cases": cases, "errors": errors, "planning_seconds": round(planning, 6)}
        print(json.dumps(stats), file=sys.stderr)
    return 1 if errors else 0


class _Unreadable:
    def __init__(self, reason: str) -> None:
        self.reason = reason


def _cases(text: str) -> list[tuple[int, object]]:
    """(line number, parsed value) per case: JSON Lines, or the whole text as one value."""
    try:
        return [(1, json.loads(text))]
    except json.JSONDecodeError:
        pass  # more than one value, or a broken line: read it as JSON Lines
    cases: list[tuple[int, object]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                cases.append((number, json.loads(line)))
            except json.JSONDecodeError as error:
                cases.append((number, _Unreadable(str(error))))
    return cases


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(case: Mapping[str, object], key: str, default: float | None = None) -> float:
    value = case.get(key, default)
    if not _is_number(value):
        raise PlanError(f"{key}: {json.dumps(value)} is not a number")
    return float(value)  # type: ignore[arg-type]  # _is_number checked int | float


def _mapping(value: object, key: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise PlanError(f"{key}: expected an object {{symbol: ...}}, got {_json_type(value)}")
    return value


def _positions(value: object) -> dict[str, int]:
    positions: dict[str, int] = {}
    for symbol, quantity in _mapping(value, "positions").items():
        if not isinstance(quantity, int) or isinstance(quantity, bool):
            raise PlanError(
                f"positions: {symbol} quantity {json.dumps(quantity)} is not a JSON integer"
            )
        positions[symbol] = quantity
    return positions


def _quotes(value: object) -> dict[str, Quote]:
    quotes: dict[str, Quote] = {}
    for symbol, quote in _mapping(value, "quotes").items():
        if not isinstance(quote, dict) or set(quote) != {"bid", "ask"}:
            raise PlanError(
                f'quotes: {symbol}: expected {{"bid": number, "ask": number}}, '
                f"got {json.dumps(quote)}"
            )
        for side in ("bid", "ask"):
            if not _is_number(quote[side]):
                raise PlanError(
                    f"quotes: {symbol} {side} {json.dumps(quote[side])} is not a number"
                )
        quotes[symbol] = Quote(bid=float(quote["bid"]), ask=float(quote["ask"]))
    return quotes


def _targets(value: object) -> dict[str, float]:
    targets: dict[str, float] = {}
    for symbol, weight in _mapping(value, "targets").items():
        if not _is_number(weight):
            raise PlanError(f"targets: {symbol} weight {json.dumps(weight)} is not a number")
        targets[symbol] = float(weight)  # type: ignore[arg-type]  # checked just above
    return targets


def _replacements(value: object) -> list[Replacement]:
    if not isinstance(value, list):
        raise PlanError(f"replacements: expected an array, got {_json_type(value)}")
    rules: list[Replacement] = []
    for number, rule in enumerate(value, start=1):
        if not isinstance(rule, dict) or set(rule) != {"source", "target", "scale"}:
            raise PlanError(
                f"replacements: rule {number}: expected "
                f'{{"source", "target", "scale"}}, got {json.dumps(rule)}'
            )
        source, target, scale = rule["source"], rule["target"], rule["scale"]
        if not isinstance(source, str) or not isinstance(target, str) or not _is_number(scale):
            raise PlanError(
                f"replacements: rule {number}: source and target must be strings and scale a "
                f"number, got {json.dumps(rule)}"
            )
        rules.append(Replacement(source=source, target=target, scale=float(scale)))
    return rules


if __name__ == "__main__":
    sys.exit(main())
