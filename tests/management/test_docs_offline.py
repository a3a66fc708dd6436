"""`/docs` works without internet: Swagger UI's files come from the service itself.

Swagger UI's JS and CSS are served from the `swagger-ui-bundle` package; ReDoc (which would load
from a CDN) is not served.
"""

from __future__ import annotations

import json
import re

import httpx

ASSET_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


def referenced_urls(html: str) -> list[str]:
    """Every URL the page loads: src=, href= and the OpenAPI url Swagger UI fetches."""
    return re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(r"url: '([^']+)'", html)


async def test_docs_page_loads_only_urls_of_the_service_itself(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")

    assert page.status_code == 200
    urls = referenced_urls(page.text)
    assert urls, page.text
    assert [url for url in urls if not url.startswith("/") or url.startswith("//")] == []


async def test_the_swagger_ui_files_the_docs_page_names_are_served(
    client: httpx.AsyncClient,
) -> None:
    urls = referenced_urls((await client.get("/docs")).text)
    assets = [url for url in urls if url.endswith(tuple(ASSET_TYPES))]

    assert {url.rsplit(".", 1)[1] for url in assets} == {"js", "css", "png"}
    for url in assets:
        response = await client.get(url)
        assert response.status_code == 200, url
        expected = ASSET_TYPES["." + url.rsplit(".", 1)[1]]
        assert response.headers["content-type"].startswith(expected), url
    script = await client.get(next(url for url in assets if url.endswith(".js")))
    assert "SwaggerUIBundle" in script.text


async def test_redoc_is_not_served(client: httpx.AsyncClient) -> None:
    assert (await client.get("/redoc")).status_code == 404


async def test_docs_read_an_openapi_30_rewrite_of_the_schema(client: httpx.AsyncClient) -> None:
    """The package's Swagger UI (4.x) cannot render OpenAPI 3.1, which FastAPI writes."""
    original = (await client.get("/openapi.json")).json()
    page = (await client.get("/docs")).text
    rewrite = await client.get("/docs/openapi-3.0.json")

    assert "url: '/docs/openapi-3.0.json'" in page
    assert original["openapi"].startswith("3.1")
    schema = rewrite.json()
    assert schema["openapi"] == "3.0.3"
    assert set(schema["paths"]) == set(original["paths"])
    text = json.dumps(schema)
    assert '{"type": "null"}' not in text
    assert '"const"' not in text
    health = schema["components"]["schemas"]["HealthStatus"]["properties"]
    assert health["paused_by"]["type"] == "string"
    assert health["paused_by"]["nullable"] is True
    duplicate = schema["components"]["schemas"]["DuplicateEventResponse"]["properties"]
    assert duplicate["status"]["enum"] == ["duplicate"]
