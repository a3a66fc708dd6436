"""MANAGEMENT_API_TOKEN: every endpoint but /health and /metrics needs the bearer token."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from rebalancer_shared.queue import EventQueue

from tests.management.helpers import TOKEN, in_retry, make_event

PROTECTED = [
    ("GET", "/queue/status"),
    ("GET", "/queue/events"),
    ("POST", "/queue/events"),
    ("DELETE", "/queue/events/5b0e9a52-0000-4000-8000-000000000000"),
    ("DELETE", "/queue/events"),
    ("POST", "/queue/events/5b0e9a52-0000-4000-8000-000000000000/retry"),
    ("GET", "/processing"),
    ("POST", "/processing/pause"),
    ("POST", "/processing/resume"),
    ("GET", "/history"),
    ("GET", "/accounts"),
]
ADD_BODY = {"account_id": "DU1234567", "exec_command": "print-positions"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(("method", "path"), PROTECTED)
async def test_protected_endpoint_needs_the_token(
    token_client: httpx.AsyncClient, method: str, path: str
) -> None:
    body = ADD_BODY if method == "POST" and path == "/queue/events" else None

    missing = await token_client.request(method, path, json=body)
    wrong = await token_client.request(method, path, json=body, headers=bearer("guess"))
    basic = await token_client.request(
        method, path, json=body, headers={"Authorization": f"Basic {TOKEN}"}
    )

    for response in (missing, wrong, basic):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert "bearer token" in response.json()["detail"]


async def test_token_opens_every_endpoint(
    token_client: httpx.AsyncClient, queue: EventQueue
) -> None:
    retry = await in_retry(queue, make_event("DU1234567", "rebalance"))
    auth = bearer(TOKEN)

    assert (await token_client.get("/queue/status", headers=auth)).status_code == 200
    assert (await token_client.get("/queue/events", headers=auth)).status_code == 200
    added = await token_client.post("/queue/events", json=ADD_BODY, headers=auth)
    assert added.status_code == 201
    retried = await token_client.post(f"/queue/events/{retry.event_id}/retry", headers=auth)
    assert retried.status_code == 200
    deleted = await token_client.delete(f"/queue/events/{retry.event_id}", headers=auth)
    assert deleted.status_code == 200
    assert (await token_client.delete("/queue/events", headers=auth)).status_code == 200
    assert (await token_client.get("/processing", headers=auth)).status_code == 200
    assert (await token_client.post("/processing/pause", headers=auth)).status_code == 200
    assert (await token_client.post("/processing/resume", headers=auth)).status_code == 200
    assert (await token_client.get("/history", headers=auth)).status_code == 200
    assert (await token_client.get("/accounts", headers=auth)).status_code == 200


async def test_health_metrics_and_the_dashboard_page_need_no_token(
    token_client: httpx.AsyncClient,
) -> None:
    assert (await token_client.get("/health")).status_code == 200
    assert (await token_client.get("/metrics")).status_code == 200
    page = await token_client.get("/")
    assert page.status_code == 200
    assert "IBKR Rebalancer" in page.text


async def test_openapi_declares_the_bearer_scheme_when_a_token_is_set(
    token_client: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    guarded = (await token_client.get("/openapi.json")).json()
    open_ = (await client.get("/openapi.json")).json()

    assert guarded["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert guarded["paths"]["/queue/status"]["get"]["security"] == [{"HTTPBearer": []}]
    assert "security" not in guarded["paths"]["/health"]["get"]
    assert "securitySchemes" not in open_.get("components", {})


async def test_no_token_configured_means_no_auth(client: httpx.AsyncClient) -> None:
    assert (await client.get("/queue/status")).status_code == 200


async def test_openapi_and_docs_are_served(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    docs = await client.get("/docs")

    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    assert set(schema["paths"]) == {
        "/health",
        "/metrics",
        "/queue/status",
        "/queue/events",
        "/queue/events/{event_id}",
        "/queue/events/{event_id}/retry",
        "/processing",
        "/processing/pause",
        "/processing/resume",
        "/history",
        "/accounts",
    }


async def test_openapi_without_a_token_declares_the_header_state_changes_need(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/openapi.json")).json()

    def header(operation: dict[str, Any]) -> dict[str, Any] | None:
        found = [p for p in operation.get("parameters", []) if p["name"] == "X-Rebalancer-Request"]
        return found[0] if found else None

    pause = schema["paths"]["/processing/pause"]["post"]
    clear = schema["paths"]["/queue/events"]["delete"]
    add = schema["paths"]["/queue/events"]["post"]
    for bodiless in (pause, clear):
        declared = header(bodiless)
        assert declared is not None and declared["in"] == "header"
        assert declared["required"] is True
        assert declared["schema"]["default"] == "1"
        assert "403" in bodiless["responses"]
    # A JSON body is proof enough: the header is optional there.
    assert header(add) is not None and header(add)["required"] is False  # type: ignore[index]
    assert "403" in add["responses"]
    assert header(schema["paths"]["/queue/status"]["get"]) is None


async def test_openapi_with_a_token_needs_no_such_header(token_client: httpx.AsyncClient) -> None:
    schema = (await token_client.get("/openapi.json")).json()

    pause = schema["paths"]["/processing/pause"]["post"]
    assert not [p for p in pause.get("parameters", []) if p["name"] == "X-Rebalancer-Request"]
    assert pause["security"] == [{"HTTPBearer": []}]
