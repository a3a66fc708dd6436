"""The broker's start-up checks of its settings: one message naming each bad variable."""

from __future__ import annotations

import pytest
from event_broker.settings import BrokerSettings, check_required, load_broker_settings
from rebalancer_shared.errors import ConfigError
from rebalancer_shared.settings import Settings


def settings(**values: str) -> Settings:
    base = {
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
