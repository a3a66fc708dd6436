"""The one backoff and the one "sleep unless stopping" of every service's retry loops."""

from __future__ import annotations

import asyncio
import random

JITTER = 0.2
"""Each delay is moved by up to ±20 %, so many brokers do not retry in step."""


class Backoff:
    def __init__(self, first: float, maximum: float, jitter: float = JITTER) -> None:
        self.first = first
        self.maximum = max(maximum, first)
        self.jitter = jitter
        self.attempts = 0

    def next(self) -> float:
        """The delay before the next attempt (the attempt count goes up by one)."""
        delay: float = min(self.first * 2.0 ** min(self.attempts, 32), self.maximum)
        self.attempts += 1
        return max(delay * (1.0 + self.jitter * (2.0 * random.random() - 1.0)), 0.0)

    def reset(self) -> None:
        self.attempts = 0


async def sleep_unless(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep `seconds` or until `stop` is set. True when stopped."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True
