"""The broker's start-up checks of its settings: one message naming each bad variable."""

from __future__ import annotations

import pytest
from event_broker.settings import BrokerSettings, check_required, load_broker_settings
from rebalancer_shared.errors import ConfigError, ConfigProblems
from rebalancer_shared.settings import EventsTransport, Settings, check_settings, load_settings


def settings(**values: str) -> Settings:
    base = {
        "zehnlabs_events_transport": "socketio",
        "zehnlabs_events_url": "https://events.zehnlabs.example",
        "rebalance_event_subscription_api_key": "sub-key-1234",
        "allocations_api_url": "https://api.zehnlabs.example/api/v1/strategies",
        "allocations_api_key": "alloc-key-1234",
    }
    return Settings(**{**base, **values})  # type: ignore[arg-type]


def test_complete_settings_pass() -> None:
    check_required(settings())
    check_required(settings(zehnlabs_events_url="wss://events.zehnlabs.example"))


def broker_problems(**values: str) -> list[str]:
    """What the broker's start reports for these settings: the shared checks, then its own."""
    problems = ConfigProblems()
    base = settings()
    checked = check_settings(
        problems, _env_file=None, **{**base.model_dump(mode="json"), **_secrets(base), **values}
    )
    with problems.collect():
        check_required(checked)
    return problems.lines


def _secrets(base: Settings) -> dict[str, str]:
    return {
        "rebalance_event_subscription_api_key": (
            base.rebalance_event_subscription_api_key.get_secret_value()
        ),
        "allocations_api_key": base.allocations_api_key.get_secret_value(),
    }


def test_each_missing_or_malformed_setting_is_named() -> None:
    assert broker_problems(
        rebalance_event_subscription_api_key="",
        allocations_api_url="api.zehnlabs.example/strategies",
    ) == [
        # The shared checks (every service), then the broker's own.
        "environment: ALLOCATIONS_API_URL: 'api.zehnlabs.example/strategies' is not a URL "
        "starting with http:// or https://",
        "environment: REBALANCE_EVENT_SUBSCRIPTION_API_KEY: is empty: the event broker needs it "
        "(see .env.example)",
    ]


def ably(**values: str) -> Settings:
    return settings(
        **{
            "zehnlabs_events_transport": "ably",
            "zehnlabs_events_url": "",
            "rebalance_event_subscription_api_key": "zlApp.subKey:s3cr3t-value",
            **values,
        }
    )


def test_ably_is_the_default_transport_and_needs_no_events_url() -> None:
    assert Settings(_env_file=None).zehnlabs_events_transport is EventsTransport.ABLY
    check_required(ably())  # Ably's own service
    check_required(ably(zehnlabs_events_url="ws://127.0.0.1:4200"))  # an Ably-protocol server
    check_required(ably(zehnlabs_events_url="wss://ably.example:443"))


def test_ably_settings_are_named_when_wrong_and_the_key_is_never_shown() -> None:
    lines = broker_problems(
        zehnlabs_events_transport="ably",
        zehnlabs_events_url="https://events.zehnlabs.example",
        rebalance_event_subscription_api_key="just-a-socketio-key",
    )
    assert lines == [
        "environment: ZEHNLABS_EVENTS_URL: 'https://events.zehnlabs.example' is not a URL "
        "starting with ws:// or wss:// (for ZEHNLABS_EVENTS_TRANSPORT=ably: empty for Ably's "
        "own service)",
        "environment: REBALANCE_EVENT_SUBSCRIPTION_API_KEY: is not an Ably API key "
        "(appId.keyId:secret) as ZEHNLABS_EVENTS_TRANSPORT=ably needs: paste the whole key "
        "Zehnlabs gave you, or set ZEHNLABS_EVENTS_TRANSPORT=socketio",
    ]
    assert not any("just-a-socketio-key" in line for line in lines)


def test_socketio_still_needs_its_url() -> None:
    assert broker_problems(zehnlabs_events_url="") == [
        "environment: ZEHNLABS_EVENTS_URL: is empty: the event broker needs it (see .env.example)"
    ]


def test_an_unknown_transport_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZEHNLABS_EVENTS_TRANSPORT", "carrier-pigeon")
    with pytest.raises(ConfigError) as error:
        load_settings(_env_file=None)
    assert "environment: ZEHNLABS_EVENTS_TRANSPORT: 'carrier-pigeon'" in str(error.value)


def test_broker_tunables_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert BrokerSettings().max_held_events == 10_000
    monkeypatch.setenv("BROKER_MAX_HELD_EVENTS", "0")
    monkeypatch.setenv("BROKER_RECONNECT_MIN_SECONDS", "90")
    with pytest.raises(ConfigError) as error:
        load_broker_settings()
    assert (
        "environment: BROKER_MAX_HELD_EVENTS: '0': Input should be greater than or equal to 1"
        in (str(error.value))
    )
    monkeypatch.setenv("BROKER_MAX_HELD_EVENTS", "500")
    with pytest.raises(ConfigError) as error:
        load_broker_settings()
    assert str(error.value) == (
        "environment: BROKER_RECONNECT_MIN_SECONDS is above BROKER_RECONNECT_MAX_SECONDS"
    )
