"""Cross-site requests and DNS rebinding: the Host allow-list and the rules for state changes.

A web page the user visits can make the browser send requests to 127.0.0.1: a form post (no
custom header possible), or, after rebinding its own name to 127.0.0.1, any request with
`Host: attacker.example`. Neither may pause, resume, add or delete anything, or read the queue.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from management_service.app import create_app
from rebalancer_shared.errors import ConfigError
from rebalancer_shared.queue import EventQueue
from rebalancer_shared.settings import Settings
from redis.asyncio import Redis

from tests.management.conftest import api_client, make_settings
from tests.management.helpers import INTENT, TOKEN, enqueued, make_event

ATTACKER = "https://attacker.example"
ADD_BODY = {"account_id": "DU1234567", "exec_command": "print-positions"}


@pytest.fixture
async def bare(settings: Settings, redis_client: Redis) -> AsyncIterator[httpx.AsyncClient]:
    """A client that sends only what a web form or a plain `curl -X POST` sends: no extra header."""
    async with api_client(settings, redis_client, headers={}) as http:
        yield http


# --- Host: DNS rebinding ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/queue/events"),
        ("DELETE", "/queue/events"),
        ("POST", "/processing/resume"),
        ("GET", "/health"),
        ("GET", "/metrics"),
        ("GET", "/"),
        ("GET", "/openapi.json"),
    ],
)
async def test_a_rebound_host_name_is_refused_naming_the_host_and_the_setting(
    client: httpx.AsyncClient, queue: EventQueue, method: str, path: str
) -> None:
    queued = await enqueued(queue, make_event("DU1234567", "rebalance"))

    response = await client.request(method, path, headers={"Host": "attacker.example"})

    assert response.status_code == 421
    detail = response.json()["detail"]
    assert "attacker.example" in detail
    assert "MANAGEMENT_ALLOWED_HOSTS" in detail
    assert await queue.get(queued.event_id) is not None


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1:8000",
        "127.0.0.1",
        "localhost:8000",
        "LocalHost:9000",
        "[::1]:8000",
        "management-service:8000",
    ],
)
async def test_local_names_and_the_compose_service_name_are_answered_on_any_port(
    client: httpx.AsyncClient, host: str
) -> None:
    assert (await client.get("/health", headers={"Host": host})).status_code == 200
    assert (await client.post("/processing/pause", headers={"Host": host})).status_code == 200


async def test_names_in_management_allowed_hosts_are_answered(
    accounts_file: Path, redis_url: str, redis_client: Redis
) -> None:
    settings = make_settings(accounts_file, redis_url, allowed_hosts="rebalancer.lan, 192.168.1.20")

    async with api_client(settings, redis_client) as http:
        by_name = await http.get("/queue/status", headers={"Host": "rebalancer.lan:8000"})
        by_address = await http.get("/queue/status", headers={"Host": "192.168.1.20"})
        other = await http.get("/queue/status", headers={"Host": "nas.lan:8000"})

    assert by_name.status_code == by_address.status_code == 200
    assert other.status_code == 421


@pytest.mark.parametrize("entry", ["https://rebalancer.lan", "rebalancer.lan:8000", "cafe.be:80"])
async def test_an_allowed_host_with_a_scheme_or_port_stops_the_service_at_start(
    accounts_file: Path, redis_url: str, entry: str
) -> None:
    settings = make_settings(accounts_file, redis_url, allowed_hosts=f"nas.lan, {entry}")

    with pytest.raises(ConfigError) as error:
        create_app(settings)

    assert "MANAGEMENT_ALLOWED_HOSTS" in str(error.value)
    assert repr(entry) in str(error.value)
    assert "without scheme or port" in str(error.value)


async def test_an_ipv6_address_may_be_allowed_with_or_without_brackets(
    accounts_file: Path, redis_url: str, redis_client: Redis
) -> None:
    settings = make_settings(accounts_file, redis_url, allowed_hosts="fd00::20,[fd00::21]")

    async with api_client(settings, redis_client) as http:
        bare = await http.get("/health", headers={"Host": "[fd00::20]:8000"})
        bracketed = await http.get("/health", headers={"Host": "[FD00::21]"})

    assert bare.status_code == bracketed.status_code == 200


# --- state changes: forms and other sites -------------------------------------------------------


async def test_a_form_on_another_site_cannot_undo_the_kill_switch(
    bare: httpx.AsyncClient, queue: EventQueue
) -> None:
    await queue.pause(by="ops")

    response = await bare.post("/processing/resume", headers={"Origin": ATTACKER})

    assert response.status_code == 403
    assert await queue.paused() is not None


@pytest.mark.parametrize(
    "form",
    [
        {"data": {"account_id": "DU1234567", "exec_command": "rebalance"}},
        {"files": {"account_id": (None, "DU1234567")}},
        {
            "content": b'{"account_id": "DU1234567", "exec_command": "rebalance"}',
            "headers": {"Content-Type": "text/plain"},
        },
        {},
    ],
    ids=["urlencoded", "multipart", "text-plain", "no-body"],
)
async def test_a_post_a_form_can_send_is_refused_saying_which_header_to_add(
    bare: httpx.AsyncClient, queue: EventQueue, form: dict[str, object]
) -> None:
    await queue.pause(by="ops")

    resumed = await bare.post("/processing/resume", **form)  # type: ignore[arg-type]
    added = await bare.post("/queue/events", **form)  # type: ignore[arg-type]

    for response in (resumed, added):
        assert response.status_code == 403
        assert "X-Rebalancer-Request: 1" in response.json()["detail"]
    assert await queue.paused() is not None
    assert (await queue.counts()).active_events_count == 0


async def test_a_delete_without_the_header_is_refused(
    bare: httpx.AsyncClient, queue: EventQueue
) -> None:
    queued = await enqueued(queue, make_event("DU1234567", "rebalance"))

    one = await bare.delete(f"/queue/events/{queued.event_id}")
    every = await bare.delete("/queue/events")

    assert one.status_code == every.status_code == 403
    assert await queue.get(queued.event_id) is not None


@pytest.mark.parametrize("origin", [ATTACKER, "null", "http://localhost:3000"])
async def test_a_foreign_origin_is_refused_even_with_the_header(
    client: httpx.AsyncClient, queue: EventQueue, origin: str
) -> None:
    response = await client.post("/processing/pause", headers={"Origin": origin})

    assert response.status_code == 403
    assert origin in response.json()["detail"]
    assert await queue.paused() is None


async def test_the_same_origin_and_an_allowed_host_as_origin_are_accepted(
    accounts_file: Path, redis_url: str, redis_client: Redis, queue: EventQueue
) -> None:
    settings = make_settings(accounts_file, redis_url, allowed_hosts="rebalancer.lan")

    async with api_client(settings, redis_client) as http:
        same = await http.post("/processing/pause", headers={"Origin": "http://127.0.0.1:8000"})
        # Behind a reverse proxy that terminates TLS: the page is https, the service sees http.
        proxied = await http.post(
            "/processing/resume",
            headers={"Host": "rebalancer.lan", "Origin": "https://rebalancer.lan"},
        )

    assert same.status_code == proxied.status_code == 200
    assert await queue.paused() is None


async def test_the_header_or_a_json_body_is_enough(
    bare: httpx.AsyncClient, queue: EventQueue
) -> None:
    paused = await bare.post("/processing/pause", headers=INTENT)
    added = await bare.post("/queue/events", json=ADD_BODY)
    cleared = await bare.delete("/queue/events", headers=INTENT)

    assert paused.status_code == 200
    assert added.status_code == 201
    assert cleared.status_code == 200


async def test_reads_need_no_header(bare: httpx.AsyncClient) -> None:
    assert (await bare.get("/queue/status")).status_code == 200
    assert (await bare.get("/queue/events", headers={"Origin": ATTACKER})).status_code == 200


async def test_with_a_token_set_the_token_alone_proves_intent(
    token_client: httpx.AsyncClient, queue: EventQueue
) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}

    paused = await token_client.post("/processing/pause", headers=auth)
    forged = await token_client.post("/processing/resume", headers={"Origin": ATTACKER})

    assert paused.status_code == 200
    assert forged.status_code == 401
    assert await queue.paused() is not None
