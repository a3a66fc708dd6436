"""The simulator's clock: real time, or a moment set through the control API.

A set clock stands still at that moment (deterministic tests) unless it is set running, in
which case it moves on in real time from the moment it was set to.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class Clock:
    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self._wall = wall
        self._set_at: datetime | None = None
        self._set_wall = 0.0
        self._running = False

    def now(self) -> datetime:
        """The current simulator time, timezone-aware (UTC)."""
        if self._set_at is None:
            return datetime.fromtimestamp(self._wall(), UTC)
        if not self._running:
            return self._set_at
        return self._set_at + timedelta(seconds=self._wall() - self._set_wall)

    def set(self, moment: datetime | None, running: bool = False) -> None:
        """Stand still at `moment` (or move on from it when `running`); None: real time."""
        if moment is not None and moment.tzinfo is None:
            raise ValueError("the clock needs an aware datetime (with a UTC offset)")
        self._set_at = None if moment is None else moment.astimezone(UTC)
        self._set_wall = self._wall()
        self._running = running

    @property
    def is_real_time(self) -> bool:
        return self._set_at is None

    @property
    def is_running(self) -> bool:
        return self._set_at is None or self._running
