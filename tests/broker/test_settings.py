"""The broker's start-up checks of its settings: one message naming each bad variable."""

from __future__ import annotations

import pytest
from event_broker.settings import BrokerSettings, check_required, load_broker_settings
from rebalancer_shared.errors import ConfigError
from rebalancer_shared.settings import EventsTransport, Settings, load_settings


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


def test_each_missing_or_malformed_setting_is_named() -> None:
    with pytest.raises(ConfigError) as error:
        check_required(
            settings(
                rebalance_event_subscription_api_key="",
                allocations_api_url="api.zehnlabs.example/strategies",
            )
        )
    assert str(error.value).splitlines() == [
        "environment: REBALANCE_EVENT_SUBSCRIPTION_API_KEY: is empty: the event broker needs it "
        "(see .env.example)",
        "environment: ALLOCATIONS_API_URL: 'api.zehnlabs.example/strategies' is not a URL "
        "starting with http:// or https://",
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
    with pytest.raises(ConfigError) as error:
        check_required(
            ably(
                zehnlabs_events_url="https://events.zehnlabs.example",
                rebalance_event_subscription_api_key="just-a-socketio-key",
            )
        )
    assert str(error.value).splitlines() == [
        "environment: REBALANCE_EVENT_SUBSCRIPTION_API_KEY: is not an Ably API key "
        "(appId.keyId:secret) as ZEHNLABS_EVENTS_TRANSPORT=ably needs: paste the whole key "
        "Zehnlabs gave you, or set ZEHNLABS_EVENTS_TRANSPORT=socketio",
        "environment: ZEHNLABS_EVENTS_URL: 'https://events.zehnlabs.example' is not a URL "
        "starting with ws:// or wss:// (for ZEHNLABS_EVENTS_TRANSPORT=ably: empty for Ably's "
        "own service)",
    ]
    assert "just-a-socketio-key" not in str(error.value)


def test_socketio_still_needs_its_url() -> None:
    with pytest.raises(ConfigError) as error:
        check_required(settings(zehnlabs_events_url=""))
    assert "environment: ZEHNLABS_EVENTS_URL: is empty" in str(error.value)


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
