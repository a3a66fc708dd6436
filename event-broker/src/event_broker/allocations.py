"""Reads one thing from the allocations API: a strategy's `last_rebalance_on`, for catch-up.

`GET {ALLOCATIONS_API_URL}/{strategy}/allocations` with the key in the `x-api-key` header
(SPEC section 4). The broker never trades, so it does not judge the weights; the processor does
when it runs the event. The key travels only in the header: never in a URL, an error message
or a log line, and a server echoing it back has it replaced.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
from pydantic import SecretStr
from rebalancer_shared.log import REDACTED

SERVER_MESSAGE_LIMIT = 200


class AllocationsError(Exception):
    """`last_rebalance_on` of a strategy could not be read; the message says why."""


class AllocationsReader:
    def __init__(self, base_url: str, api_key: SecretStr, timeout_seconds: float) -> None:
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._http = httpx.AsyncClient(timeout=timeout_seconds, follow_redirects=False)

    async def close(self) -> None:
        await self._http.aclose()

    async def last_rebalance_on(self, strategy: str) -> str:
        """The strategy's `last_rebalance_on` as served, or AllocationsError naming why not."""

        def fail(why: str) -> AllocationsError:
            return AllocationsError(f"allocations API, strategy {strategy!r}: {self._clean(why)}")

        url = f"{self._base_url}/{quote(strategy, safe='')}/allocations"
        try:
            response = await self._http.get(
                url, headers={"x-api-key": self._api_key.get_secret_value()}
            )
        except httpx.HTTPError as error:
            raise fail(f"request failed: {type(error).__name__}: {error}") from None
        if response.status_code != 200:
            raise fail(f"HTTP {response.status_code}: {_server_message(response)}")
        try:
            body: Any = response.json()
        except ValueError:
            raise fail("the answer is not JSON") from None
        data = body.get("data") if isinstance(body, dict) else None
        value = data.get("last_rebalance_on") if isinstance(data, dict) else None
        if not isinstance(value, str) or not value.strip():
            raise fail(f"no last_rebalance_on in the answer (got {value!r:.80})")
        return value.strip()

    def _clean(self, text: str) -> str:
        key = self._api_key.get_secret_value()
        return text.replace(key, REDACTED) if key else text


def _server_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:SERVER_MESSAGE_LIMIT] or "(empty body)"
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])[:SERVER_MESSAGE_LIMIT]
    return str(body)[:SERVER_MESSAGE_LIMIT]
