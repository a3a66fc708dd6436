"""Reads one thing from the allocations API: a strategy's `last_rebalance_on`, for catch-up.

The HTTP part (the `x-api-key` header, timeouts, error statuses, the key kept out of every
message) is the shared `AllocationsApi`. The broker never trades, so it does not judge the
weights; the processor does when it runs the event.
"""

from __future__ import annotations

from pydantic import SecretStr
from rebalancer_shared.allocations_api import AllocationsApi, AllocationsError

__all__ = ["AllocationsError", "AllocationsReader"]


class AllocationsReader:
    def __init__(self, base_url: str, api_key: SecretStr, timeout_seconds: float) -> None:
        self._api = AllocationsApi(base_url, api_key.get_secret_value(), timeout_seconds)

    async def close(self) -> None:
        await self._api.aclose()

    async def last_rebalance_on(self, strategy: str) -> str:
        """The strategy's `last_rebalance_on` as served, or AllocationsError naming why not."""
        body = await self._api.get(strategy)
        data = body.get("data") if isinstance(body, dict) else None
        value = data.get("last_rebalance_on") if isinstance(data, dict) else None
        if not isinstance(value, str) or not value.strip():
            raise AllocationsError(
                f"allocations API for strategy {strategy!r}: no last_rebalance_on in the answer "
                f"(got {self._api.redact(repr(value))[:80]})"
            )
        return value.strip()
