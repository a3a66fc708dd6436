"""`/docs` in headless Chromium with every request outside the service blocked: no internet.

The real service runs as a subprocess; Swagger UI must render and run a call ("Try it out" on
`POST /processing/pause`, which needs the X-Rebalancer-Request header the schema declares).
"""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, Route, expect
from rebalancer_shared.queue import EventQueue

from tests.management.helpers import write_accounts
from tests.management.service import running_service

UI_TIMEOUT_MS = 10_000


async def test_docs_render_and_run_a_call_without_internet(
    browser: Browser, artifacts: Path, tmp_path: Path, redis_url: str, queue: EventQueue
) -> None:
    with running_service(write_accounts(tmp_path), redis_url) as (_, url):
        context = await browser.new_context()
        elsewhere: list[str] = []

        async def only_the_service(route: Route) -> None:
            if route.request.url.startswith(url + "/"):
                await route.continue_()
            else:
                elsewhere.append(route.request.url)
                await route.abort()

        await context.route("**/*", only_the_service)
        page = await context.new_page()
        page.set_default_timeout(UI_TIMEOUT_MS)
        await page.goto(url + "/docs")

        await expect(page.locator(".swagger-ui .info .title")).to_contain_text(
            "management API", timeout=UI_TIMEOUT_MS
        )
        pause = page.locator("#operations-processing-pause_processing_pause_post")
        await expect(pause).to_be_visible(timeout=UI_TIMEOUT_MS)
        await page.screenshot(path=str(artifacts / "docs.png"), full_page=False)

        await pause.locator(".opblock-summary").click()
        await pause.get_by_role("button", name="Try it out").click()
        await pause.get_by_role("button", name="Execute").click()
        status = pause.locator(".live-responses-table .response .response-col_status")
        await expect(status).to_have_text("200", timeout=UI_TIMEOUT_MS)
        await context.close()

    assert await queue.paused() is not None
    assert elsewhere == []
