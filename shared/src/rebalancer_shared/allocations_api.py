"""The Zehnlabs allocations API over HTTP, for every service that reads it (SPEC section 4).

`GET {ALLOCATIONS_API_URL}/{strategy}/allocations` with the key in the `x-api-key` header.
`AllocationsApi.get` returns the decoded JSON answer, or raises `AllocationsError` saying what
went wrong (timeout, unreachable, an HTTP error with a hint, malformed JSON). What the answer
must look like is the caller's business: the processor validates the weights, the broker only
reads `last_rebalance_on`.

The key travels only in the header: never in a URL, a message or a log line, and a server
echoing it back has it replaced before its words reach an error message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import quote

import httpx

from rebalancer_shared.log import REDACTED

SERVER_MESSAGE_LIMIT = 200
"""Enough of a server's error text to understand it, not a whole HTML error page."""

_HINTS = {
    401: "the API key was refused: check ALLOCATIONS_API_KEY",
    403: "the API key was refused: check ALLOCATIONS_API_KEY",
    404: "unknown strategy: check strategy_name in accounts.yaml",
}


class AllocationsError(Exception):
    """The allocations of a strategy could not be fetched or are not valid; trade nothing."""


def shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SERVER_MESSAGE_LIMIT else text[:SERVER_MESSAGE_LIMIT] + "..."


class AllocationsApi:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        timeout_seconds: float = 10.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if not base_url.strip():
            raise ValueError("ALLOCATIONS_API_URL is empty: set it in .env")
        if not api_key:
            raise ValueError("ALLOCATIONS_API_KEY is empty: set it in .env")
        if timeout_seconds <= 0:
            raise ValueError(f"allocations timeout {timeout_seconds} s is not above 0")
        self.base_url = base_url.strip().rstrip("/")
        self._api_key = api_key
        self.timeout_seconds = timeout_seconds
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(follow_redirects=False)

    def __repr__(self) -> str:
        # Never the key: a repr ends up in tracebacks and debug logs.
        return f"AllocationsApi(base_url={self.base_url!r})"

    def url(self, strategy_name: str) -> str:
        return f"{self.base_url}/{quote(strategy_name, safe='')}/allocations"

    async def get(self, strategy_name: str) -> object:
        """The decoded answer for the strategy, or AllocationsError naming the problem."""
        where = f"allocations API for strategy {strategy_name!r}"
        try:
            response = await self._client.get(
                self.url(strategy_name),
                headers={"x-api-key": self._api_key, "accept": "application/json"},
                timeout=self.timeout_seconds,
            )
        except httpx.TimeoutException:
            raise AllocationsError(
                f"{where} did not answer within {self.timeout_seconds:g} s ({self.base_url})"
            ) from None
        except httpx.HTTPError as error:
            raise AllocationsError(
                f"{where} could not be reached at {self.base_url}: "
                f"{self.redact(str(error) or type(error).__name__)}"
            ) from None
        if response.status_code != httpx.codes.OK:
            raise AllocationsError(
                f"{where} answered HTTP {response.status_code}" + self._hint(response)
            )
        try:
            return json.loads(response.content)
        except ValueError as error:
            raise AllocationsError(f"{where} answered malformed JSON: {error}") from None

    def _hint(self, response: httpx.Response) -> str:
        """What to do about an error status, and what the server said about it."""
        parts = [_HINTS[response.status_code]] if response.status_code in _HINTS else []
        said = self._server_message(response)
        if said:
            parts.append(f"server said: {said}")
        return f" ({'; '.join(parts)})" if parts else ""

    def _server_message(self, response: httpx.Response) -> str:
        try:
            body = json.loads(response.content)
        except ValueError:
            body = None
        if isinstance(body, Mapping) and isinstance(body.get("message"), str):
            text = str(body["message"])
        elif response.headers.get("content-type", "").startswith("text/plain"):
            text = response.text
        else:
            return ""
        return shorten(self.redact(text))

    def redact(self, text: str) -> str:
        return text.replace(self._api_key, REDACTED) if self._api_key else text

    async def aclose(self) -> None:
        """Close the HTTP connections, unless the client was handed in (its owner closes it)."""
        if self._owns_client:
            await self._client.aclose()
