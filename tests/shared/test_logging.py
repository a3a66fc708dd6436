"""JSON log lines: service and event context bound, secrets never written."""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog
from rebalancer_shared.log import configure_logging, get_logger
from rebalancer_shared.settings import load_settings


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_lines_are_json_with_service_event_and_account(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    configure_logging("event-processor", "INFO", [], stream=stream)
    with structlog.contextvars.bound_contextvars(event_id="ev-1", account_id="DU1234567"):
        get_logger().info("order.filled", symbol="SPY", quantity=12)
    [line] = lines(stream)
    assert line["event"] == "order.filled"
    assert line["service"] == "event-processor"
    assert line["event_id"] == "ev-1"
    assert line["account_id"] == "DU1234567"
    assert line["quantity"] == 12
    assert line["level"] == "info"


def test_configured_secrets_never_reach_a_log_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IB_PASSWORD", "hunter2-very-secret")
    monkeypatch.setenv("ALLOCATIONS_API_KEY", "zl-key-8f3a9c")
    monkeypatch.setenv("REBALANCE_EVENT_SUBSCRIPTION_API_KEY", "zl-sub-77aa11")
    monkeypatch.setenv("MANAGEMENT_API_TOKEN", "mgmt-token-5521")
    settings = load_settings(_env_file=None)
    stream = io.StringIO()
    configure_logging("event-broker", "DEBUG", settings.secrets(), stream=stream)
    log = get_logger()
    log.info("connecting", url="https://api.example/?key=zl-key-8f3a9c", password="whatever")
    log.info("settings", settings=settings.model_dump(mode="json"))
    log.error("auth failed with zl-sub-77aa11", headers={"x-api-key": "zl-key-8f3a9c"})
    log.info("nested", values=["mgmt-token-5521", {"deep": "hunter2-very-secret"}])
    # A library logging through the standard library is redacted too.
    logging.getLogger("httpx").warning("GET /allocations?api_key=zl-key-8f3a9c -> 401")
    try:
        raise RuntimeError("login failed for password hunter2-very-secret")
    except RuntimeError:
        log.exception("gateway.login_failed")
    text = stream.getvalue()
    assert len(lines(stream)) == 6
    for secret in ("hunter2-very-secret", "zl-key-8f3a9c", "zl-sub-77aa11", "mgmt-token-5521"):
        assert secret not in text
    assert "[REDACTED]" in text


def test_a_logger_made_before_configuration_still_redacts() -> None:
    early = get_logger("made.at.import", component="worker")
    stream = io.StringIO()
    configure_logging("event-processor", "INFO", ["topsecret-value"], stream=stream)
    early.info("note", detail="topsecret-value")
    [line] = lines(stream)
    assert line["detail"] == "[REDACTED]"
    assert line["component"] == "worker"
    assert line["service"] == "event-processor"


def test_an_ably_key_is_redacted_url_encoded_too() -> None:
    # The Ably SDK logs its connect URL, with the key URL-encoded in the query.
    key = "zlApp.subKey:s3cr3t/ab+cd=="
    stream = io.StringIO()
    configure_logging("event-broker", "DEBUG", [key], stream=stream)
    logging.getLogger("ably.transport").info(
        "connect(): attempting to connect to wss://main.realtime.ably.net?"
        "key=zlApp.subKey%3As3cr3t%2Fab%2Bcd%3D%3D&v=5"
    )
    get_logger().info("form", query="key=zlApp.subKey%3As3cr3t%2Fab%2Bcd%3D%3D")
    text = stream.getvalue()
    assert "s3cr3t" not in text
    assert text.count("[REDACTED]") == 2
