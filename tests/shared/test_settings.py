"""The environment checked at start: URLs, required variables, and one report with the files."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rebalancer_shared.config import load_configuration
from rebalancer_shared.errors import ConfigError, exit_for_invalid_configuration
from rebalancer_shared.log import configure_logging, get_logger
from rebalancer_shared.settings import Settings, load_settings

ACCOUNT = (
    "- {account_id: DU1234567, type: paper, enabled: true, strategy_name: growth,"
    " cash_reserve_percent: 1}\n"
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No variable of the test run's own environment (or a .env) leaks into these settings."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)


def problems(**environment: str) -> list[str]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environment.items():
            patch.setenv(name, value)
        with pytest.raises(ConfigError) as caught:
            load_settings(_env_file=None)
    return str(caught.value).splitlines()


def test_url_settings_with_a_foreign_scheme_are_refused() -> None:
    assert problems(
        ZEHNLABS_EVENTS_TRANSPORT="socketio",
        ZEHNLABS_EVENTS_URL="ftp://events.zehnlabs.example",
        ALLOCATIONS_API_URL="file:///etc/passwd",
        REDIS_URL="http://localhost:6379/0",
    ) == [
        "environment: ZEHNLABS_EVENTS_URL: 'ftp://events.zehnlabs.example' is not a URL "
        "starting with http:// or https:// or ws:// or wss://",
        "environment: ALLOCATIONS_API_URL: 'file:///etc/passwd' is not a URL starting with "
        "http:// or https://",
        "environment: REDIS_URL: a URL starting with http:// is not a Redis URL: write "
        "redis://HOST:6379/0, rediss://HOST:6379/0 (TLS) or unix:///path/to/redis.sock",
    ]


def test_an_ably_events_url_reads_as_the_broker_says_it() -> None:
    assert problems(
        ZEHNLABS_EVENTS_TRANSPORT="ably", ZEHNLABS_EVENTS_URL="https://events.zehnlabs.example"
    ) == [
        "environment: ZEHNLABS_EVENTS_URL: 'https://events.zehnlabs.example' is not a URL "
        "starting with ws:// or wss:// (for ZEHNLABS_EVENTS_TRANSPORT=ably: empty for Ably's "
        "own service)",
    ]


def test_a_redis_url_is_never_shown_it_may_hold_a_password() -> None:
    lines = problems(REDIS_URL="redis//:s3cret-pass@redis:6379/0")
    assert lines == [
        "environment: REDIS_URL: a URL without a scheme is not a Redis URL: write "
        "redis://HOST:6379/0, rediss://HOST:6379/0 (TLS) or unix:///path/to/redis.sock",
    ]
    assert problems(REDIS_URL="redis://:s3cret-pass@redis:6379/zero") == [
        "environment: REDIS_URL: the database after the host is not a number (like "
        "redis://HOST:6379/0)",
    ]
    assert problems(REDIS_URL="") == ["environment: REDIS_URL: is empty (like redis://HOST:6379/0)"]


def test_urls_every_service_can_use_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(_env_file=None).redis_url == "redis://localhost:6379/0"
    for redis_url in (
        "redis://redis:6379/0",
        "rediss://:pass@redis.example:6380/2",
        "redis://localhost",
        "unix:///run/redis/redis.sock?db=1",
    ):
        monkeypatch.setenv("REDIS_URL", redis_url)
        assert load_settings(_env_file=None).redis_url == redis_url
    monkeypatch.setenv("ALLOCATIONS_API_URL", "https://workers.fintech.zehnlabs.com/api/v1/x")
    monkeypatch.setenv("ZEHNLABS_EVENTS_URL", "ws://127.0.0.1:4200")
    load_settings(_env_file=None)


def test_a_required_setting_left_empty_is_named_without_its_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ALLOCATIONS_API_URL", "https://workers.fintech.zehnlabs.com/api/v1/x")
    monkeypatch.setenv("ALLOCATIONS_API_KEY", "   ")
    with pytest.raises(ConfigError) as caught:
        load_settings(
            _env_file=None,
            required=("ALLOCATIONS_API_URL", "ALLOCATIONS_API_KEY"),
            needed_by="the event processor",
        )
    assert str(caught.value) == (
        "environment: ALLOCATIONS_API_KEY: is empty: the event processor needs it "
        "(see .env.example)"
    )


def test_every_environment_problem_is_reported_in_one_run() -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("IB_PORT", "four-thousand")
        patch.setenv("ALLOCATIONS_API_URL", "workers.fintech.zehnlabs.com")
        patch.setenv("REDIS_URL", "http://redis:6379")
        with pytest.raises(ConfigError) as caught:
            load_settings(
                _env_file=None,
                required=("ALLOCATIONS_API_URL", "ALLOCATIONS_API_KEY"),
                needed_by="the event processor",
            )
    assert str(caught.value).splitlines() == [
        "environment: IB_PORT: 'four-thousand': Input should be a valid integer, unable to "
        "parse string as an integer",
        "environment: ALLOCATIONS_API_URL: 'workers.fintech.zehnlabs.com' is not a URL "
        "starting with http:// or https://",
        "environment: REDIS_URL: a URL starting with http:// is not a Redis URL: write "
        "redis://HOST:6379/0, rediss://HOST:6379/0 (TLS) or unix:///path/to/redis.sock",
        "environment: ALLOCATIONS_API_KEY: is empty: the event processor needs it "
        "(see .env.example)",
    ]


def test_environment_and_files_are_reported_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # TRADING_MODE is wrong, yet accounts.yaml (named by a good variable) is still checked.
    accounts_file = tmp_path / "my-accounts.yaml"
    accounts_file.write_text(ACCOUNT + ACCOUNT)
    monkeypatch.setenv("TRADING_MODE", "Live")
    monkeypatch.setenv("ACCOUNTS_FILE", str(accounts_file))

    def allowed_hosts(settings: Settings) -> None:
        raise ConfigError("environment: MANAGEMENT_ALLOWED_HOSTS: 'http://x' is not a host name")

    with pytest.raises(ConfigError) as caught:
        load_configuration(
            _env_file=None,
            required=("ALLOCATIONS_API_KEY",),
            needed_by="the event processor",
            checks=(allowed_hosts,),
        )
    assert str(caught.value).splitlines() == [
        "environment: TRADING_MODE: 'Live': Input should be 'paper' or 'live'",
        "environment: ALLOCATIONS_API_KEY: is empty: the event processor needs it "
        "(see .env.example)",
        "environment: MANAGEMENT_ALLOWED_HOSTS: 'http://x' is not a host name",
        "my-accounts.yaml: entry 2 (account DU1234567): field account_id: 'DU1234567' "
        "is a duplicate (also entry 1)",
    ]


def test_good_configuration_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "accounts.yaml").write_text(ACCOUNT)
    monkeypatch.setenv("ALLOCATIONS_API_KEY", "alloc-key-1234")
    seen: list[int] = []
    settings, accounts = load_configuration(
        _env_file=None,
        required=("ALLOCATIONS_API_KEY",),
        needed_by="the event processor",
        checks=(lambda settings: seen.append(settings.ib_port),),
    )
    assert settings.allocations_api_key.get_secret_value() == "alloc-key-1234"
    assert [account.account_id for account in accounts.accounts] == ["DU1234567"]
    assert seen == [4002]


def test_invalid_configuration_prints_one_header_then_each_problem_and_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    error = ConfigError(
        "environment: REDIS_URL: is empty (like redis://HOST:6379/0)\n"
        "accounts.yaml: line 4, column 7: mapping values are not allowed here"
    )
    with pytest.raises(SystemExit) as stopped:
        exit_for_invalid_configuration("event-processor", error)
    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        "event-processor: invalid configuration",
        "environment: REDIS_URL: is empty (like redis://HOST:6379/0)",
        "accounts.yaml: line 4, column 7: mapping values are not allowed here",
    ]


def test_an_env_file_that_is_not_utf8_is_named_without_its_bytes(tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(b"TRADING_MODE=paper\nIB_PASSWORD=caf\xe9-s3cret\n")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == ".env: is not UTF-8 text (at byte 34): save it as UTF-8"


def test_the_redis_password_in_redis_url_is_a_secret_the_logs_never_show(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Inside Docker REDIS_URL carries Redis's password: the log redactor gets it from secrets(),
    # as written and URL-decoded (redis-py decodes %40 to @ before it sends the password).
    monkeypatch.setenv("REDIS_URL", "redis://:9f86d081884c7d65@redis:6379/0")
    assert "9f86d081884c7d65" in load_settings(_env_file=None).secrets()
    assert "9f86d081884c7d65" not in repr(load_settings(_env_file=None))
    monkeypatch.setenv("REDIS_URL", "redis://queue:p%40ss-w0rd-2211@redis:6379/0")
    settings = load_settings(_env_file=None)
    assert "p@ss-w0rd-2211" in settings.secrets()

    stream = io.StringIO()
    configure_logging("event-processor", "INFO", settings.secrets(), stream=stream)
    get_logger().info("redis.connecting", url=settings.redis_url)
    get_logger().error("redis.auth_failed", detail="password p@ss-w0rd-2211 refused")
    assert "w0rd-2211" not in stream.getvalue()
    assert "redis://queue:[REDACTED]@redis:6379/0" in stream.getvalue()

    monkeypatch.setenv("REDIS_URL", "redis://redis:6379/0")  # no password: nothing to hide
    assert load_settings(_env_file=None).secrets() == []
