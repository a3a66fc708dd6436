"""The processor's checks of TRADING_MODE against the accounts it is given."""

from __future__ import annotations

import io
import json
from pathlib import Path

from event_processor.main import warn_when_no_account_matches
from event_processor.trading_mode import is_paper_account, mode_mismatch
from rebalancer_shared.config import load_accounts
from rebalancer_shared.log import configure_logging
from rebalancer_shared.settings import Settings, TradingMode


def logged(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def accounts_of_type(tmp_path: Path, kind: str) -> Path:
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text(
        f"- {{account_id: U7654321, type: {kind}, enabled: true, "
        "strategy_name: etf-blend-200-35, cash_reserve_percent: 1}\n"
    )
    (tmp_path / "replacement-sets.yaml").write_text("{}\n")
    return accounts


def test_no_account_of_the_trading_mode_is_an_error_at_start(tmp_path: Path) -> None:
    accounts = load_accounts(accounts_of_type(tmp_path, "live"), tmp_path / "replacement-sets.yaml")
    stream = io.StringIO()
    configure_logging("event-processor", "INFO", [], stream=stream)

    warn_when_no_account_matches(Settings(_env_file=None, trading_mode="paper"), accounts)

    [line] = logged(stream)
    assert line["event"] == "processor.no_accounts"
    assert line["level"] == "error"
    assert line["trading_mode"] == "paper"
    assert "the enabled accounts are live" in str(line["hint"])


def test_accounts_of_the_trading_mode_need_no_warning(tmp_path: Path) -> None:
    accounts = load_accounts(accounts_of_type(tmp_path, "live"), tmp_path / "replacement-sets.yaml")
    stream = io.StringIO()
    configure_logging("event-processor", "INFO", [], stream=stream)

    warn_when_no_account_matches(Settings(_env_file=None, trading_mode="live"), accounts)

    assert logged(stream) == []


def test_paper_accounts_are_the_d_accounts() -> None:
    assert is_paper_account("DU1234567") and is_paper_account("DF998877")
    assert not is_paper_account("U1234567") and not is_paper_account("F1234567")


def test_a_live_account_in_paper_mode_names_mode_account_and_fix() -> None:
    line = mode_mismatch(TradingMode.PAPER, ["DU1234567", "U7654321"], "ib-gateway:4004")
    assert line is not None
    assert line.startswith(
        "TRADING_MODE=paper, but IB Gateway at ib-gateway:4004 manages live account U7654321"
    )
    assert mode_mismatch(TradingMode.PAPER, ["DU1234567", "DU7654321"], "gw:4004") is None
    assert mode_mismatch(TradingMode.LIVE, ["U7654321"], "gw:4003") is None
    live = mode_mismatch(TradingMode.LIVE, ["DU1234567"], "gw:4004")
    assert live is not None and "IB_GATEWAY_API_PORT=4003" in live
