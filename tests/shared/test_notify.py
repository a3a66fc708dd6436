"""Notifications: delivered through apprise's `json://` to a local HTTP endpoint, rate-limited
failures, and never an exception or a URL secret in the caller's way."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr
from rebalancer_shared.errors import ConfigError
from rebalancer_shared.log import configure_logging
from rebalancer_shared.notify import Notifier, format_order
from rebalancer_shared.settings import load_settings

from tests.support.processes import free_port

ACCOUNT = "DU1234567"
EVENT = "6f1c2d4e-8a9b-4c3d-9e2f-0a1b2c3d4e5f"
PASSWORD = "s3cr3t-pa55w0rd"


@dataclass
class Receiver:
    """A local endpoint standing in for a phone: what apprise POSTed to it."""

    port: int
    status: int = 200
    received: list[dict[str, Any]] = field(default_factory=list)

    def url(self, path: str = "notify") -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    @property
    def titles(self) -> list[str]:
        return [str(message["title"]) for message in self.received]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver(port=0)

    async def capture(request: web.Request) -> web.Response:
        state.received.append(await request.json())
        return web.json_response({"ok": state.status == 200}, status=state.status)

    app = web.Application()
    app.router.add_post("/{path:.*}", capture)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.port = int(runner.addresses[0][1])
    yield state
    await runner.cleanup()


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, 20, 15, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def log_lines() -> io.StringIO:
    stream = io.StringIO()
    # No secrets handed to the shared redactor: the notifier itself must keep URLs out.
    configure_logging("event-processor", "DEBUG", [], stream=stream)
    return stream


def events(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


SPY_BUY = {"action": "BUY", "symbol": "SPY", "quantity": 12, "avg_fill_price": 512.3}
TLT_SELL = {"action": "SELL", "symbol": "TLT", "quantity": 10, "avg_fill_price": 91.2}


async def test_rebalance_done_lists_the_orders_one_line_each(receiver: Receiver) -> None:
    notifier = Notifier([receiver.url()])
    assert await notifier.rebalance_done(ACCOUNT, EVENT, [TLT_SELL, SPY_BUY], observe_only=False)
    [message] = receiver.received
    assert message["title"] == "DU1234567: rebalanced, 2 orders"
    assert message["message"].splitlines() == [
        "SELL 10 TLT @ 91.20",
        "BUY 12 SPY @ 512.30",
        f"event {EVENT}",
    ]
    assert message["type"] == "success"


async def test_observe_only_says_nothing_was_placed(receiver: Receiver) -> None:
    notifier = Notifier([receiver.url()])
    await notifier.rebalance_done(ACCOUNT, EVENT, [SPY_BUY], observe_only=True)
    [message] = receiver.received
    assert message["title"] == "DU1234567: planned 1 order (observe only)"
    assert "Observe only: nothing was placed." in message["message"]


async def test_account_on_target_says_no_orders(receiver: Receiver) -> None:
    await Notifier([receiver.url()]).rebalance_done(ACCOUNT, EVENT, [], observe_only=False)
    assert receiver.titles == ["DU1234567: on target, no orders"]


async def test_a_long_order_list_is_cut_for_a_phone(receiver: Receiver) -> None:
    orders = [{"action": "BUY", "symbol": f"ETF{n}", "quantity": n + 1} for n in range(25)]
    await Notifier([receiver.url()]).rebalance_done(ACCOUNT, EVENT, orders, observe_only=False)
    lines = receiver.received[0]["message"].splitlines()
    assert lines[19] == "BUY 20 ETF19"
    assert lines[20] == "... and 5 more"


def test_order_lines_accept_the_usual_field_names() -> None:
    assert format_order({"side": "sell", "symbol": "IEF", "qty": 7.0, "price": 95.5}) == (
        "SELL 7 IEF @ 95.50"
    )
    assert format_order({"symbol": "GLD", "shares": -3}) == "SELL 3 GLD"
    assert format_order({"symbol": "SGOV", "filled": 40, "limit_price": 0.5}) == (
        "BUY 40 SGOV @ 0.5000"
    )


async def test_first_failure_is_sent_then_one_per_hour(receiver: Receiver) -> None:
    clock = Clock()
    notifier = Notifier([receiver.url()], clock=clock)
    error = "SPY: order rejected (IB error 201: insufficient buying power)"

    assert await notifier.event_failed(ACCOUNT, EVENT, error, times_queued=1)
    clock.advance(minutes=1)
    assert not await notifier.event_failed(ACCOUNT, EVENT, error, times_queued=2)
    clock.advance(minutes=58)
    assert not await notifier.event_failed(ACCOUNT, EVENT, error, times_queued=60)
    assert len(receiver.received) == 1

    clock.advance(minutes=1)  # an hour after the first notice
    assert await notifier.event_failed(ACCOUNT, EVENT, error, times_queued=61)
    first, again = receiver.received
    assert first["title"] == again["title"] == "DU1234567: event failed"
    assert first["type"] == "failure"
    assert first["message"].splitlines()[0] == error
    assert "Queued 1x" in first["message"]
    assert "Queued 61x" in again["message"]
    assert "2 more failures since the last notice." in again["message"]


async def test_failures_of_other_events_are_not_held_back(receiver: Receiver) -> None:
    notifier = Notifier([receiver.url()], clock=Clock())
    await notifier.event_failed(ACCOUNT, EVENT, "quote for SPY is 0", times_queued=1)
    other = "0c4f7e9a-1b2d-4e6f-8a0b-c2d4e6f8a0b1"
    assert await notifier.event_failed("DU7654321", other, "quote for SPY is 0", times_queued=1)
    assert len(receiver.received) == 2


async def test_a_success_resets_the_failure_limit(receiver: Receiver) -> None:
    clock = Clock()
    notifier = Notifier([receiver.url()], clock=clock)
    await notifier.event_failed(ACCOUNT, EVENT, "gateway timeout", times_queued=1)
    await notifier.rebalance_done(ACCOUNT, EVENT, [SPY_BUY], observe_only=False)
    clock.advance(minutes=5)
    assert await notifier.event_failed(ACCOUNT, EVENT, "gateway timeout", times_queued=1)


async def test_an_exception_is_shown_by_its_message(receiver: Receiver) -> None:
    notifier = Notifier([receiver.url()], clock=Clock())
    await notifier.event_failed(ACCOUNT, EVENT, TimeoutError(), times_queued=3)
    assert receiver.received[0]["message"].startswith("TimeoutError\n")


async def test_delayed_to_open_says_when_it_runs(receiver: Receiver) -> None:
    notifier = Notifier([receiver.url()])
    opens_at = datetime(2026, 11, 27, 14, 30, tzinfo=UTC)
    reason = "SPY is outside its session (NYSE closed for Thanksgiving)"
    assert await notifier.delayed_to_open(ACCOUNT, EVENT, opens_at, reason)
    [message] = receiver.received
    assert message["title"] == "DU1234567: delayed to market open"
    assert message["message"].splitlines()[:2] == [reason, "Runs at Fri 2026-11-27 14:30 UTC."]


async def test_gateway_unreachable_then_back(receiver: Receiver) -> None:
    notifier = Notifier([receiver.url()])
    assert not await notifier.gateway_back()  # never alarmed: no all-clear either
    assert await notifier.gateway_unreachable(12.4)
    assert await notifier.gateway_back()
    assert receiver.titles == ["IB Gateway unreachable for 12 min", "IB Gateway connected again"]
    assert "two-factor" in receiver.received[0]["message"]
    assert receiver.received[0]["type"] == "warning"


async def test_every_url_gets_the_notice(receiver: Receiver) -> None:
    notifier = Notifier([receiver.url("phone"), SecretStr(receiver.url("desk"))])
    await notifier.gateway_unreachable(15)
    assert receiver.titles == ["IB Gateway unreachable for 15 min"] * 2


async def test_no_urls_is_a_logged_no_op(log_lines: io.StringIO) -> None:
    notifier = Notifier([])
    assert not notifier.enabled
    assert not await notifier.rebalance_done(ACCOUNT, EVENT, [SPY_BUY], observe_only=False)
    assert not await notifier.event_failed(ACCOUNT, EVENT, "boom", times_queued=1)
    assert not await notifier.delayed_to_open(ACCOUNT, EVENT, datetime.now(UTC), "closed")
    assert not await notifier.gateway_unreachable(10)
    assert not await notifier.gateway_back()
    skipped = [line for line in events(log_lines) if line["event"] == "notify.skipped"]
    assert [line["kind"] for line in skipped] == [
        "rebalance_done",
        "event_failed",
        "delayed_to_open",
        "gateway_unreachable",
        "gateway_back",
    ]
    assert skipped[0]["account_id"] == ACCOUNT


async def test_an_unreachable_service_is_logged_not_raised_and_its_secret_never_logged(
    log_lines: io.StringIO,
) -> None:
    notifier = Notifier([f"json://alerts:{PASSWORD}@127.0.0.1:{free_port()}/notify"])
    assert not await notifier.event_failed(ACCOUNT, EVENT, "boom", times_queued=1)
    failed = [line for line in events(log_lines) if line["event"] == "notify.failed"]
    assert failed[0]["failed_services"] == ["JSON"]
    assert PASSWORD not in log_lines.getvalue()


async def test_a_service_answering_an_error_is_logged_not_raised(
    receiver: Receiver, log_lines: io.StringIO
) -> None:
    receiver.status = 500
    notifier = Notifier([receiver.url().replace("json://", f"json://alerts:{PASSWORD}@")])
    assert not await notifier.gateway_unreachable(30)
    assert len(receiver.received) == 1
    assert any(line["event"] == "notify.failed" for line in events(log_lines))
    assert PASSWORD not in log_lines.getvalue()


def test_a_url_apprise_cannot_use_stops_the_start_without_showing_it(
    log_lines: io.StringIO,
) -> None:
    with pytest.raises(ConfigError) as error:
        Notifier(["ntfys://ntfy.sh/rebalancer-alerts", f"ntfyy://{PASSWORD}@ntfy.sh/alerts"])
    assert "NOTIFY_URLS: entry 2 (scheme 'ntfyy')" in str(error.value)
    assert PASSWORD not in str(error.value)
    assert PASSWORD not in log_lines.getvalue()


def test_apprise_debug_lines_with_tokens_are_filtered(log_lines: io.StringIO) -> None:
    Notifier([f"json://127.0.0.1:9/{PASSWORD}"])
    apprise_log = logging.getLogger("apprise")
    apprise_log.debug("JSON POST URL: http://127.0.0.1:9/%s", PASSWORD)
    apprise_log.warning("Failed to send JSON notification to /%s", PASSWORD)
    assert PASSWORD not in log_lines.getvalue()
    assert "Failed to send JSON notification to /[REDACTED]" in log_lines.getvalue()


def test_built_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_URLS", "json://127.0.0.1:9/a, json://127.0.0.1:9/b")
    assert Notifier.from_settings(load_settings(_env_file=None)).enabled
    monkeypatch.delenv("NOTIFY_URLS")
    assert not Notifier.from_settings(load_settings(_env_file=None)).enabled
