"""The dashboard in headless Chromium (Debian's package, driven by Playwright; no download).

The real service runs as a subprocess; events are written through the shared queue, and what the
buttons do is checked in Redis. Screenshots go to test-artifacts/ for a human to look at.
"""

from __future__ import annotations

import time
from pathlib import Path

from playwright.async_api import Browser, Dialog, Page, expect
from rebalancer_shared import heartbeats
from rebalancer_shared.events import Event
from rebalancer_shared.queue import EventListType, EventQueue
from redis.asyncio import Redis

from tests.management.helpers import (
    QQQ_SELL,
    SPY_BUY,
    TOKEN,
    delayed_to_open,
    enqueued,
    in_retry,
    make_event,
    succeeded,
    write_accounts,
)
from tests.management.service import running_service

UI_TIMEOUT_MS = 10_000
expect.set_options(timeout=UI_TIMEOUT_MS)


async def accept_dialogs(dialog: Dialog) -> None:
    await dialog.accept()


async def new_page(browser: Browser, width: int = 1280, height: int = 900) -> Page:
    page = await browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.on("dialog", accept_dialogs)
    return page


class Scene:
    """A morning a trader would recognise: one rebalance done, one failing, one waiting."""

    def __init__(self, done: Event, retry: Event, delayed: Event, queued: Event) -> None:
        self.done, self.retry, self.delayed, self.queued = done, retry, delayed, queued


async def set_the_scene(queue: EventQueue, redis: Redis) -> Scene:
    done = await succeeded(
        queue,
        make_event("DU1234567", "rebalance"),
        {"orders": [QQQ_SELL, SPY_BUY], "fills": [QQQ_SELL, SPY_BUY]},
    )
    retry = await in_retry(
        queue,
        make_event("DU7654321", "rebalance", strategy_name="tqqq-fang"),
        "IB error 201: order rejected - insufficient buying power",
    )
    delayed = await delayed_to_open(queue, make_event("DU1234567", "print-rebalance"))
    queued = await enqueued(queue, make_event("DU1234567", "rebalance"))
    await heartbeats.beat(redis, "event-broker", stream_connected=True)
    await heartbeats.beat(
        redis, "event-processor:proc-1", gateway_connected=True, consumer="proc-1"
    )
    return Scene(done, retry, delayed, queued)


def row(event: Event) -> str:
    return f'#events-body tr[data-event-id="{event.event_id}"]'


async def test_dashboard_shows_the_queue_and_its_buttons_change_it(
    browser: Browser,
    artifacts: Path,
    tmp_path: Path,
    redis_url: str,
    queue: EventQueue,
    redis_client: Redis,
) -> None:
    scene = await set_the_scene(queue, redis_client)

    with running_service(write_accounts(tmp_path), redis_url) as (_, url):
        page = await new_page(browser)
        await page.goto(url + "/")

        # What is in Redis is on the page.
        await expect(page.locator("#events-body tr[data-event-id]")).to_have_count(3)
        await expect(page.locator(row(scene.retry))).to_contain_text("DU7654321")
        await expect(page.locator(row(scene.retry))).to_contain_text("insufficient buying")
        await expect(page.locator(row(scene.retry))).to_have_attribute("data-type", "retry")
        await expect(page.locator(row(scene.delayed))).to_have_attribute("data-type", "delayed")
        await expect(page.locator(row(scene.queued))).to_have_attribute("data-type", "active")
        await expect(page.locator("#health-badge")).to_have_text("unhealthy")
        await expect(page.locator("#gateway-badge")).to_have_text("gateway connected")
        await expect(page.locator("#count-retry")).to_have_text("1")
        await expect(page.locator("#count-queued")).to_have_text("1")
        history = page.locator(f'#history li[data-event-id="{scene.done.event_id}"]')
        await expect(history).to_contain_text("succeeded")
        await expect(history).to_contain_text("BUY 12 SPY @ 512.34 (Filled)")
        await expect(history).to_contain_text("SELL 5 QQQ @ 440.1 (Filled)")
        ira = page.locator('#accounts-body tr[data-account-id="DU7654321"]')
        await expect(ira).to_contain_text("failed")
        main = page.locator('#accounts-body tr[data-account-id="DU1234567"]')
        await expect(main).to_contain_text("delayed")
        await expect(main).to_contain_text("last success")
        await page.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)

        # Retry now: the waiting event goes to the head of the queue.
        await page.locator(f'{row(scene.retry)} button[data-action="retry"]').click()
        await expect(page.locator(row(scene.retry))).to_have_attribute("data-type", "active")
        assert (await queue.counts()).retry_events_count == 0
        ready = await queue.list_events(EventListType.ACTIVE)
        assert ready[0].event_id == scene.retry.event_id

        # Delete (after the confirmation): the event is gone from Redis and from the page.
        await page.locator(f'{row(scene.queued)} button[data-action="delete"]').click()
        await expect(page.locator(row(scene.queued))).to_have_count(0)
        assert await queue.get(scene.queued.event_id) is None

        # Pause and resume: the shared kill switch.
        await page.locator("#pause-button").click()
        await expect(page.locator("#paused-badge")).to_have_text("paused")
        assert await queue.paused() is not None
        await page.locator("#pause-button").click()
        await expect(page.locator("#paused-badge")).to_have_text("running")
        assert await queue.paused() is None

        # Usable on a phone: the same page at 390 px wide.
        phone = await new_page(browser, width=390, height=844)
        await phone.goto(url + "/")
        await expect(phone.locator("#events-body tr[data-event-id]")).to_have_count(2)
        await phone.screenshot(path=str(artifacts / "dashboard-phone.png"), full_page=True)


async def test_dashboard_refreshes_by_itself_and_shows_data_as_text(
    browser: Browser, tmp_path: Path, redis_url: str, queue: EventQueue
) -> None:
    markup = '<img src="x" onerror="window.pwned = 1">'
    with running_service(write_accounts(tmp_path), redis_url) as (_, url):
        page = await new_page(browser)
        await page.goto(url + "/")
        await expect(page.locator("#events-body")).to_contain_text("The queue is empty.")

        event = await in_retry(queue, make_event("DU7654321", "rebalance"), markup)
        started = time.monotonic()

        await expect(page.locator(row(event))).to_have_count(1)
        assert time.monotonic() - started < UI_TIMEOUT_MS / 1000
        await expect(page.locator(row(event))).to_contain_text(markup)
        assert await page.locator("#events-body img, #history img").count() == 0
        assert await page.evaluate("window.pwned") is None


async def test_dashboard_asks_for_the_token_once_and_then_works(
    browser: Browser,
    artifacts: Path,
    tmp_path: Path,
    redis_url: str,
    queue: EventQueue,
    redis_client: Redis,
) -> None:
    scene = await set_the_scene(queue, redis_client)

    with running_service(write_accounts(tmp_path), redis_url, token=TOKEN) as (_, url):
        page = await new_page(browser)
        await page.goto(url + "/")

        # Health is public; the queue needs the token, so the page asks for it.
        await expect(page.locator("#token-panel")).to_be_visible()
        await expect(page.locator("#health-badge")).to_have_text("unhealthy")
        await expect(page.locator("#events-body tr[data-event-id]")).to_have_count(0)

        await page.locator("#token-input").fill("a wrong guess")
        await page.locator("#token-form button").click()
        await expect(page.locator("#banner")).to_contain_text("token was refused")
        await expect(page.locator("#events-body tr[data-event-id]")).to_have_count(0)

        await page.locator("#token-input").fill(TOKEN)
        await page.locator("#token-form button").click()
        await expect(page.locator("#token-panel")).to_be_hidden()
        await expect(page.locator("#events-body tr[data-event-id]")).to_have_count(3)

        await page.locator(f'{row(scene.retry)} button[data-action="retry"]').click()
        await expect(page.locator(row(scene.retry))).to_have_attribute("data-type", "active")
        assert (await queue.counts()).retry_events_count == 0

        # Kept for the browser session: a reload does not ask again.
        await page.reload()
        await expect(page.locator("#events-body tr[data-event-id]")).to_have_count(3)
        await expect(page.locator("#token-panel")).to_be_hidden()
        await page.screenshot(path=str(artifacts / "dashboard-token.png"), full_page=True)
