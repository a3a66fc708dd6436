"""The processor's checks of TRADING_MODE against the accounts it is given."""

from __future__ import annotations

import io
import json
from pathlib import Path

from event_processor.main import warn_when_no_account_matches
from rebalancer_shared.config import load_accounts
from rebalancer_shared.log import configure_logging
from rebalancer_shared.settings import Settings


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
