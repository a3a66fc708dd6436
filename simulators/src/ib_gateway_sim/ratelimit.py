"""IB's API message-rate limit: about 50 messages per second per client connection.

IB documents that no more than 50 messages per second may be sent to TWS / IB Gateway, that the
excess is refused with error 100 ("Max rate of messages per second has been exceeded"), and that
TWS eventually closes the connection of a client that keeps exceeding it.

How the simulator holds a client to that:
- Each client has a bucket of `limit` message allowances that refills at `limit` per second. A
  message takes one; a message that finds the bucket empty is not processed and is answered with
  error 100. So a client may send `limit` messages at once, and `limit` per second for as long as
  it likes; anything faster is refused.
- A client that sends more than `disconnect_factor` x `limit` messages within one second (it
  ignores the errors and keeps flooding) is disconnected.

Why a bucket rather than a plain count of the last second: the simulator can only time a message
when it reads it. A client that paces itself correctly in bursts (ib_async sends up to 45 at
once, then the next ones as the first leave its own one-second window) reaches the server with
each burst shifted by network and scheduling delays, and a strict one-second count on arrival
then sees two bursts in one second now and then (up to 70 "in a second" were measured for a
client that never sent more than 45 in any second). The bucket refuses a sustained rate above the
limit and a burst above it, but not a correctly paced client whose bursts arrive a little late.
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
        self._allowance = float(limit)
        self._refilled_at: float | None = None
        self._arrivals: deque[float] = deque()

    def record(self, now: float) -> Verdict:
        """Count one message received at monotonic time `now` and judge it."""
        arrivals = self._arrivals
        while arrivals and now - arrivals[0] >= WINDOW_SECONDS:
            arrivals.popleft()
        arrivals.append(now)
        if self.limit <= 0:
            return Verdict.ACCEPT
        if len(arrivals) > self.limit * self.disconnect_factor:
            return Verdict.DISCONNECT
        if self._refilled_at is not None:
            refill = (now - self._refilled_at) * self.limit / WINDOW_SECONDS
            self._allowance = min(float(self.limit), self._allowance + refill)
        self._refilled_at = now
        if self._allowance >= 1.0:
            self._allowance -= 1.0
            return Verdict.ACCEPT
        return Verdict.REFUSE

    @property
    def in_window(self) -> int:
        """Messages received in the last second (as of the last one recorded)."""
        return len(self._arrivals)
