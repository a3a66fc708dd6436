"""`rebalance-plan`: JSON in, JSON out, one line per case, a non-zero exit on a bad case."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from typing import Any

from event_processor.planner import PlanInput

from bench.planner_bench import random_account


def command() -> list[str]:
    found = shutil.which("rebalance-plan")
    return [found] if found else [sys.executable, "-m", "event_processor.plan_cli"]


def run(text: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command(), *args], input=text, capture_output=True, text=True, timeout=120
    )


def case_of(inp: PlanInput) -> dict[str, Any]:
    return {
        "net_liquidation": inp.net_liquidation,
        "cash": inp.cash,
        "positions": dict(inp.positions),
        "quotes": {s: {"bid": q.bid, "ask": q.ask} for s, q in inp.quotes.items()},
        "targets": dict(inp.targets),
        "cash_reserve_percent": inp.cash_reserve_percent,
    }


FOUR_ETFS = {
    "net_liquidation": 100000,
    "cash": 100000,
    "positions": {},
    "quotes": {
        "SPY": {"bid": 452.29, "ask": 452.31},
        "QQQ": {"bid": 389.08, "ask": 389.12},
        "TLT": {"bid": 92.39, "ask": 92.41},
        "GLD": {"bid": 185.58, "ask": 185.62},
    },
    "targets": {"SPY": 0.25, "QQQ": 0.25, "TLT": 0.25, "GLD": 0.25},
    "cash_reserve_percent": 1,
}


def test_one_object_in_gives_one_plan_out() -> None:
    done = run(json.dumps(FOUR_ETFS, indent=2))  # pretty-printed over many lines works too
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    plan = json.loads(line)
    assert set(plan) == {"sells", "buys", "expected_cash_after"}
    assert plan["sells"] == []
    assert [b["symbol"] for b in plan["buys"]] == ["GLD", "QQQ", "SPY", "TLT"]
    assert all(type(b["quantity"]) is int and b["quantity"] > 0 for b in plan["buys"])
    spent = sum(b["quantity"] * b["limit_price"] for b in plan["buys"])
    assert plan["expected_cash_after"] == round(100_000 - spent, 6)
    assert plan["expected_cash_after"] >= 1_000


def test_replacements_and_defaults_are_read_from_the_case() -> None:
    case = {
        **FOUR_ETFS,
        "positions": {"TQQQ": 100},
        "quotes": {**FOUR_ETFS["quotes"], "TQQQ": {"bid": 61.2, "ask": 61.22}},  # type: ignore[dict-item]
        "targets": {"TQQQ": 0.2, "SPY": 0.4, "TLT": 0.4},
        "replacements": [{"source": "TQQQ", "target": "QQQ", "scale": 1.5}],
        "buy_slippage_percent": 0,
        "min_trade_value": 0,
        "min_drift_percent": 0,
    }
    plan = json.loads(run(json.dumps(case)).stdout)
    assert plan["sells"] == [{"symbol": "TQQQ", "quantity": 100}]
    assert {b["symbol"]: b["limit_price"] for b in plan["buys"]} == {
        "QQQ": 389.12,  # no slippage: the ask
        "SPY": 452.31,
        "TLT": 92.41,
    }


def test_a_bad_case_gets_an_error_line_and_the_exit_status_says_so() -> None:
    bad_price = {**FOUR_ETFS, "quotes": {**FOUR_ETFS["quotes"], "SPY": {"bid": 0, "ask": 452}}}  # type: ignore[dict-item]
    lines = [
        json.dumps(FOUR_ETFS),
        json.dumps(bad_price),
        "{not json",
        json.dumps({**FOUR_ETFS, "positions": {"SPY": 1.5}}),
        json.dumps({**FOUR_ETFS, "cash_reserve_pct": 1}),
        json.dumps({**FOUR_ETFS, "targets": {"SPY": 0.8, "TLT": 0.5}}),
    ]
    done = run("\n".join(lines) + "\n")
    out = [json.loads(line) for line in done.stdout.splitlines()]

    assert done.returncode == 1
    assert len(out) == 6
    assert "buys" in out[0]
    assert out[1] == {"error": "line 2: quotes: SPY bid 0.0 is not a positive price"}
    assert out[2]["error"].startswith("line 3: not valid JSON")
    assert out[3] == {"error": "line 4: positions: SPY quantity 1.5 is not a JSON integer"}
    assert out[4] == {"error": "line 5: unknown key(s): cash_reserve_pct"}
    assert out[5] == {"error": "line 6: targets: weights sum to 1.3, above 1.01"}


def test_a_thousand_cases_through_one_process_each_get_a_valid_plan() -> None:
    rng = random.Random(11)
    accounts = [random_account(rng) for _ in range(1_000)]
    done = run("\n".join(json.dumps(case_of(inp)) for inp in accounts) + "\n", "--stats")

    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert len(lines) == 1_000
    for inp, line in zip(accounts, lines, strict=True):
        plan = json.loads(line)
        assert set(plan) == {"sells", "buys", "expected_cash_after"}
        cash = inp.cash + sum(s["quantity"] * inp.quotes[s["symbol"]].bid for s in plan["sells"])
        cash -= sum(b["quantity"] * b["limit_price"] for b in plan["buys"])
        assert abs(cash - plan["expected_cash_after"]) < 1e-6
        reserve = inp.net_liquidation * inp.cash_reserve_percent / 100
        assert not plan["buys"] or cash >= reserve - 1e-6
        for sell in plan["sells"]:
            assert 0 < sell["quantity"] <= inp.positions[sell["symbol"]]
    stats = json.loads(done.stderr.splitlines()[-1])
    assert stats["cases"] == 1_000 and stats["errors"] == 0


def test_no_input_is_a_usage_error() -> None:
    done = run("")
    assert done.returncode == 2
    assert "no input" in done.stderr
