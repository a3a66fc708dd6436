"""IB's API message-rate limit: about 50 messages per second per client connection.

IB documents that no more than 50 messages per second may be sent to TWS / IB Gateway, that
the excess is refused with error 100 ("Max rate of messages per second has been exceeded"),
and that a client that keeps exceeding the rate is eventually disconnected. The simulator
counts each client's messages in a sliding one-second window:
- up to `limit` messages in the window: processed;
- above `limit`: the message is not processed and the client gets error 100;
- above `disconnect_factor` x `limit` (a client that ignores the errors and keeps flooding):
  the connection is closed.
Refused messages count in the window too: a client that floods stays refused until it slows.
"""

from __future__ import annotations

from collections import deque
from enum import Enum

WINDOW_SECONDS = 1.0
DEFAULT_LIMIT = 50
DEFAULT_DISCONNECT_FACTOR = 2


class Verdict(Enum):
    ACCEPT = "accept"
    REFUSE = "refuse"
    DISCONNECT = "disconnect"


class RateLimiter:
    def __init__(
        self, limit: int = DEFAULT_LIMIT, disconnect_factor: int = DEFAULT_DISCONNECT_FACTOR
    ) -> None:
        self.limit = limit
        self.disconnect_factor = disconnect_factor
        self._times: deque[float] = deque()

    def record(self, now: float) -> Verdict:
        """Count one message received at monotonic time `now` and judge it."""
        times = self._times
        while times and now - times[0] >= WINDOW_SECONDS:
            times.popleft()
        times.append(now)
        if self.limit <= 0 or len(times) <= self.limit:
            return Verdict.ACCEPT
        if len(times) > self.limit * self.disconnect_factor:
            return Verdict.DISCONNECT
        return Verdict.REFUSE

    @property
    def in_window(self) -> int:
        """Messages in the current window (as of the last one recorded)."""
        return len(self._times)
