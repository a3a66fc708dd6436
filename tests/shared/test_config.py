"""accounts.yaml / replacement-sets.yaml / environment: each bad input gives its precise message."""

from __future__ import annotations

from pathlib import Path

import pytest
from rebalancer_shared.config import load_accounts
from rebalancer_shared.errors import ConfigError
from rebalancer_shared.settings import TradingMode, load_settings

SETS = """
ira:
  - {source: SPY, target: VOO, scale: 1.0}
  - {source: QQQ, target: QQQM, scale: 1.5}
"""

GOOD = """
- account_id: DU1234567
  type: paper
  enabled: true
  strategy_name: etf-blend-200-35
  cash_reserve_percent: 1.0
- account_id: DU7654321
  type: paper
  enabled: false
  strategy_name: etf-blend-200-35
  cash_reserve_percent: 2.5
- account_id: U1111111
  type: live
  enabled: true
  strategy_name: etf-blend-200-35
  cash_reserve_percent: 0
  replacement_set: ira
- account_id: DU2222222
  type: paper
  enabled: true
  strategy_name: tactical-bond
  cash_reserve_percent: 5
  replacement_set: ira
"""


def write(tmp_path: Path, accounts: str, sets: str | None = SETS) -> tuple[Path, Path]:
    accounts_file = tmp_path / "accounts.yaml"
    accounts_file.write_text(accounts)
    sets_file = tmp_path / "replacement-sets.yaml"
    if sets is not None:
        sets_file.write_text(sets)
    return accounts_file, sets_file


def error_of(tmp_path: Path, accounts: str, sets: str | None = SETS) -> str:
    with pytest.raises(ConfigError) as caught:
        load_accounts(*write(tmp_path, accounts, sets))
    return str(caught.value)


def test_good_file_filters_by_mode_and_enabled(tmp_path: Path) -> None:
    config = load_accounts(*write(tmp_path, GOOD))
    assert [a.account_id for a in config.active(TradingMode.PAPER)] == ["DU1234567", "DU2222222"]
    assert [a.account_id for a in config.active(TradingMode.LIVE)] == ["U1111111"]
    assert config.strategies(TradingMode.PAPER) == ["etf-blend-200-35", "tactical-bond"]
    assert [a.account_id for a in config.for_strategy("tactical-bond", TradingMode.PAPER)] == [
        "DU2222222"
    ]
    ira = config.find("DU2222222")
    assert ira is not None
    settings = config.settings_for(ira)
    assert settings.cash_reserve_percent == 5
    assert [(r.source, r.target, r.scale) for r in settings.replacements] == [
        ("SPY", "VOO", 1.0),
        ("QQQ", "QQQM", 1.5),
    ]


def test_missing_field_is_named(tmp_path: Path) -> None:
    message = error_of(
        tmp_path,
        "- {account_id: DU1234567, type: paper, enabled: true, strategy_name: etf-blend}",
    )
    assert message == (
        "accounts.yaml: entry 1 (account DU1234567): field cash_reserve_percent: "
        "missing (required, no default)"
    )


def test_reserve_above_100_is_refused(tmp_path: Path) -> None:
    message = error_of(
        tmp_path,
        "- {account_id: DU1234567, type: paper, enabled: true, strategy_name: s,"
        " cash_reserve_percent: 140}",
    )
    assert message == (
        "accounts.yaml: entry 1 (account DU1234567): field cash_reserve_percent: "
        "140 is not between 0 and 100"
    )


def test_unknown_type_is_refused(tmp_path: Path) -> None:
    message = error_of(
        tmp_path,
        "- {account_id: U1234567, type: papr, enabled: true, strategy_name: s,"
        " cash_reserve_percent: 1}",
    )
    assert message == (
        "accounts.yaml: entry 1 (account U1234567): field type: 'papr' is not one of paper, live"
    )


def test_duplicate_account_is_refused(tmp_path: Path) -> None:
    entry = (
        "- {account_id: DU1234567, type: paper, enabled: true, strategy_name: s,"
        " cash_reserve_percent: 1}\n"
    )
    message = error_of(tmp_path, entry + entry)
    assert message == (
        "accounts.yaml: entry 2 (account DU1234567): field account_id: 'DU1234567' "
        "is a duplicate (also entry 1)"
    )


def test_unknown_replacement_set_is_refused(tmp_path: Path) -> None:
    message = error_of(
        tmp_path,
        "- {account_id: U1234567, type: live, enabled: true, strategy_name: s,"
        " cash_reserve_percent: 1, replacement_set: roth}",
    )
    assert message == (
        "accounts.yaml: entry 1 (account U1234567): field replacement_set: 'roth' is not "
        "defined in replacement-sets.yaml (defined: ira)"
    )


def test_misspelt_field_is_refused_not_ignored(tmp_path: Path) -> None:
    message = error_of(
        tmp_path,
        "- {account_id: U1234567, type: live, enabled: true, strategy_name: s,"
        " cash_reserve_percent: 1, cash_reserve_pct: 5}",
    )
    assert "field cash_reserve_pct: unknown field" in message


def test_reserve_as_text_is_refused(tmp_path: Path) -> None:
    message = error_of(
        tmp_path,
        "- {account_id: U1234567, type: live, enabled: true, strategy_name: s,"
        " cash_reserve_percent: 'five'}",
    )
    assert "field cash_reserve_percent: 'five' is not a number" in message


def test_every_bad_entry_is_reported(tmp_path: Path) -> None:
    message = error_of(
        tmp_path,
        "- {account_id: U1234567, type: live, enabled: true, strategy_name: s,"
        " cash_reserve_percent: -1}\n"
        "- {account_id: bogus, type: live, enabled: true, strategy_name: s,"
        " cash_reserve_percent: 1}\n",
    )
    assert message.splitlines() == [
        "accounts.yaml: entry 1 (account U1234567): field cash_reserve_percent: "
        "-1 is not between 0 and 100",
        "accounts.yaml: entry 2 (account bogus): field account_id: 'bogus' is not an IB "
        "account id (like U1234567 or DU1234567)",
    ]


def test_bad_replacement_rule_is_named(tmp_path: Path) -> None:
    message = error_of(
        tmp_path,
        GOOD,
        "ira:\n  - {source: SPY, target: VOO, scale: 0}\n  - {source: QQQ, target: QQQ, scale: 1}",
    )
    assert message.splitlines() == [
        "replacement-sets.yaml: set ira rule 1: field scale: 0 is not above 0 and at most 10",
        "replacement-sets.yaml: set ira rule 2: field (entry): {'source': 'QQQ', 'target': "
        "'QQQ', 'scale': 1} source and target are the same symbol",
    ]


def test_missing_accounts_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"accounts.yaml: file not found at .*accounts.yaml"):
        load_accounts(tmp_path / "accounts.yaml", tmp_path / "replacement-sets.yaml")


def test_settings_refuse_an_unknown_trading_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADING_MODE", "papr")
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None)
    assert str(caught.value).startswith("environment: TRADING_MODE: 'papr': Input should be")


def test_settings_never_echo_a_secret_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_URLS", "ntfy://secret-topic")
    monkeypatch.setenv("IB_PORT", "not-a-port")
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None)
    assert "environment: IB_PORT: 'not-a-port'" in str(caught.value)
    assert "secret-topic" not in str(caught.value)


def test_settings_defaults_are_the_safe_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TRADING_MODE", "OBSERVE_ONLY", "MANAGEMENT_HOST"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(_env_file=None)
    assert settings.trading_mode is TradingMode.PAPER
    assert settings.observe_only is False
    assert settings.management_host == "127.0.0.1"


def test_notify_urls_split_on_commas_and_spaces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_URLS", "ntfy://topic-a, json://127.0.0.1:9/x  tgram://bot/chat")
    settings = load_settings(_env_file=None)
    assert [url.get_secret_value() for url in settings.notify_urls] == [
        "ntfy://topic-a",
        "json://127.0.0.1:9/x",
        "tgram://bot/chat",
    ]


def test_every_problem_of_both_files_is_reported_in_one_run(tmp_path: Path) -> None:
    # A field error, a duplicate of that broken entry, an unknown set on an entry that also has
    # a field error, and a bad rule in replacement-sets.yaml: all named at once, in file order.
    message = error_of(
        tmp_path,
        "- {account_id: DU1234567, type: paper, enabled: true, strategy_name: growth,"
        " cash_reserve_percent: 140}\n"
        "- {account_id: DU1234567, type: paper, enabled: true, strategy_name: growth,"
        " cash_reserve_percent: 1}\n"
        "- {account_id: DU123, type: paper, enabled: 1, strategy_name: growth,"
        " cash_reserve_percent: 1, replacement_set: ira2}\n",
        "ira:\n  - {source: SPY, target: VOO, scale: 0}\n",
    )
    assert message.splitlines() == [
        "accounts.yaml: entry 1 (account DU1234567): field cash_reserve_percent: "
        "140 is not between 0 and 100",
        "accounts.yaml: entry 2 (account DU1234567): field account_id: 'DU1234567' "
        "is a duplicate (also entry 1)",
        "accounts.yaml: entry 3 (account DU123): field enabled: 1 is not true or false",
        "accounts.yaml: entry 3 (account DU123): field replacement_set: 'ira2' is not defined "
        "in replacement-sets.yaml (defined: ira)",
        "replacement-sets.yaml: set ira rule 1: field scale: 0 is not above 0 and at most 10",
    ]


def test_yaml_syntax_error_names_the_file_line_and_column(tmp_path: Path) -> None:
    message = error_of(
        tmp_path,
        "- account_id: DU1234567\n"
        "  type: paper\n"
        "  enabled: true\n"
        "  strategy_name: growth: 2\n"
        "  cash_reserve_percent: 1\n",
    )
    assert message == "accounts.yaml: line 4, column 24: mapping values are not allowed here"


def test_syntax_errors_in_both_files_are_reported_together(tmp_path: Path) -> None:
    message = error_of(
        tmp_path,
        "- {account_id: DU1234567, type: paper, enabled: true, strategy_name: growth,"
        " cash_reserve_percent: 1, replacement_set: ira\n",
        "ira:\n  - {source: SPY, target: VOO scale: 1}\n",
    )
    # No guess about which sets exist: the account's replacement_set is not called unknown.
    assert message.splitlines() == [
        "accounts.yaml: line 2, column 1: expected ',' or '}', but got '<stream end>' "
        "(while parsing a flow mapping at line 1, column 3)",
        "replacement-sets.yaml: line 2, column 36: expected ',' or '}', but got ':' "
        "(while parsing a flow mapping at line 2, column 5)",
    ]


def test_unknown_set_is_named_even_when_the_sets_file_has_bad_rules(tmp_path: Path) -> None:
    message = error_of(
        tmp_path,
        "- {account_id: U1234567, type: live, enabled: true, strategy_name: s,"
        " cash_reserve_percent: 1, replacement_set: roth}",
        "ira:\n  - {source: SPY, target: SPY, scale: 1}\n",
    )
    assert message.splitlines() == [
        "accounts.yaml: entry 1 (account U1234567): field replacement_set: 'roth' is not "
        "defined in replacement-sets.yaml (defined: ira)",
        "replacement-sets.yaml: set ira rule 1: field (entry): {'source': 'SPY', 'target': "
        "'SPY', 'scale': 1} source and target are the same symbol",
    ]


def test_a_field_given_twice_in_one_entry_is_refused_not_overwritten(tmp_path: Path) -> None:
    # YAML keeps the last of two equal keys: 50 would silently win over the reserve above it.
    message = error_of(
        tmp_path,
        "- account_id: DU1234567\n"
        "  type: paper\n"
        "  enabled: true\n"
        "  strategy_name: growth\n"
        "  cash_reserve_percent: 1\n"
        "  cash_reserve_percent: 50\n",
    )
    assert message == (
        "accounts.yaml: line 6, column 3: key cash_reserve_percent is given twice (first at line 5)"
    )


def test_a_file_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    accounts_file, sets_file = write(tmp_path, GOOD)
    accounts_file.write_bytes(b"\xff\xfe- account_id: DU1234567\n")
    sets_file.unlink()
    sets_file.mkdir()
    with pytest.raises(ConfigError) as caught:
        load_accounts(accounts_file, sets_file)
    assert str(caught.value).splitlines() == [
        "accounts.yaml: is not UTF-8 text (byte 0xff at position 0): save it as UTF-8",
        f"replacement-sets.yaml: cannot be read at {sets_file}: Is a directory",
    ]


def test_an_unreadable_sets_file_makes_no_account_guess_at_its_sets(tmp_path: Path) -> None:
    message = error_of(tmp_path, GOOD, "ira: [{source: SPY, target: VOO, scale: 1}\n")
    assert message.splitlines() == [
        "replacement-sets.yaml: line 2, column 1: expected ',' or ']', but got '<stream end>' "
        "(while parsing a flow sequence at line 1, column 6)",
    ]
