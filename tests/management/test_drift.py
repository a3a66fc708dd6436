"""The drift from target on the account overview, from a recorded rebalance (pure)."""

from __future__ import annotations

from typing import Any

import pytest
from management_service.drift import drift_of

DETAILS: dict[str, Any] = {
    "target_weights": {"SPY": 0.6, "TLT": 0.4},
    "quotes": {"SPY": {"bid": 499.9, "ask": 500.1}, "TLT": {"bid": 89.99, "ask": 90.01}},
    # $100,000: SPY 50 % (100 x 500), TLT 45 % (500 x 90), cash $5,000
    "positions_after": {"SPY": 100, "TLT": 500},
    "cash_after": 5_000.0,
}


def test_drift_is_each_weight_against_its_target_after_the_reserve() -> None:
    drift = drift_of(DETAILS, reserve_percent=5.0, as_of="2026-11-23T15:00:00Z")

    assert drift is not None
    assert drift.as_of == "2026-11-23T15:00:00Z"
    rows = {row.symbol: row for row in drift.symbols}
    # targets 0.6 x 0.95 = 57 % and 0.4 x 0.95 = 38 %
    assert rows["SPY"].target_percent == pytest.approx(57.0)
    assert rows["SPY"].actual_percent == pytest.approx(50.0)
    assert rows["SPY"].drift_percent == pytest.approx(-7.0)
    assert rows["SPY"].target_shares == pytest.approx(114.0)
    assert rows["TLT"].drift_percent == pytest.approx(7.0)
    assert drift.cash_percent == pytest.approx(5.0)
    assert drift.cash_drift_percent == pytest.approx(0.0)
    assert drift.tracking_error_percent == pytest.approx(7.0)  # (7 + 7 + 0) / 2


def test_a_held_symbol_that_is_no_target_drifts_by_its_whole_weight() -> None:
    details = {
        **DETAILS,
        "quotes": {**DETAILS["quotes"], "GLD": {"bid": 240.0, "ask": 240.0}},
        "positions_after": {"SPY": 100, "TLT": 500, "GLD": 10},
        "cash_after": 2_600.0,
    }
    drift = drift_of(details, reserve_percent=0.0, as_of=None)

    assert drift is not None
    gld = next(row for row in drift.symbols if row.symbol == "GLD")
    assert gld.target_percent == 0.0 and gld.drift_percent == pytest.approx(2.4)


@pytest.mark.parametrize(
    "change",
    [
        {"positions_after": None},  # print-rebalance or observe-only: nothing was traded
        {"target_weights": None},  # recorded before the processor wrote its targets
        {"quotes": {"SPY": {"bid": 499.9, "ask": 500.1}}},  # no price for TLT
        {"cash_after": "n/a"},
    ],
)
def test_without_the_data_there_is_no_drift(change: dict[str, object]) -> None:
    assert drift_of({**DETAILS, **change}, reserve_percent=0.0, as_of=None) is None
