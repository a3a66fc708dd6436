"""HTTP as clients expect it: OPTIONS and 405 name every method of a path, and a body that is not
JSON is told so (415) while malformed JSON is a 422 like every other invalid input."""

from __future__ import annotations

import httpx
import pytest

EVENT_ID = "5b0e9a52-0000-4000-8000-000000000000"


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/queue/events", "GET, POST, DELETE, OPTIONS"),
        (f"/queue/events/{EVENT_ID}", "DELETE, OPTIONS"),
        (f"/queue/events/{EVENT_ID}/retry", "POST, OPTIONS"),
        ("/processing", "GET, OPTIONS"),
        ("/processing/pause", "POST, OPTIONS"),
        ("/health", "GET, OPTIONS"),
    ],
)
async def test_options_answers_every_method_of_the_path(
    client: httpx.AsyncClient, path: str, allow: str
) -> None:
    response = await client.options(path)

    assert response.status_code == 204
    assert response.headers["allow"] == allow
    assert response.content == b""


async def test_options_needs_no_token(token_client: httpx.AsyncClient) -> None:
    response = await token_client.options("/queue/status")

    assert response.status_code == 204
    assert response.headers["allow"] == "GET, OPTIONS"


async def test_options_of_an_unknown_path_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.options("/queue/nothing-here")).status_code == 404


async def test_a_method_the_path_lacks_is_405_naming_every_method_it_has(
    client: httpx.AsyncClient,
) -> None:
    response = await client.put("/queue/events", json={})

    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST, DELETE, OPTIONS"


@pytest.mark.parametrize(
    "body",
    [
        {"data": {"account_id": "DU1234567", "exec_command": "rebalance"}},
        {"content": b"account_id=DU1234567", "headers": {"Content-Type": "text/plain"}},
        {"files": {"account_id": (None, "DU1234567")}},
    ],
    ids=["urlencoded", "text-plain", "multipart"],
)
async def test_a_body_that_is_not_json_is_415_saying_which_content_type_to_send(
    client: httpx.AsyncClient, body: dict[str, object]
) -> None:
    response = await client.post("/queue/events", **body)  # type: ignore[arg-type]

    assert response.status_code == 415
    assert "Content-Type: application/json" in response.json()["detail"]


async def test_malformed_json_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/queue/events",
        content=b'{"account_id": "DU1234567",',
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


async def test_json_with_a_charset_is_json(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/queue/events",
        content=b'{"account_id": "DU1234567", "exec_command": "print-positions"}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )

    assert response.status_code == 201


async def test_a_json_body_that_is_not_text_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/queue/events",
        content=b'{"account_id": "\xe9"}',
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert "parsing the body" in response.json()["detail"]
