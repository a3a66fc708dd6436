"""A consumer process for crash tests: it takes events, then dies by SIGKILL at a chosen step.

    python -m tests.shared.crash_consumer REDIS_URL CONSUMER STEP

STEP is where it dies: `after_blmove` (the id moved to its processing list, not yet claimed),
`after_claim` (claimed: in flight), `after_complete`, `after_fail`, or `wait` (claims, prints
the id, and waits to be killed from outside).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from rebalancer_shared import keys
from rebalancer_shared.queue import EventQueue
from redis.asyncio import Redis


def die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


async def run(redis_url: str, consumer: str, step: str) -> None:
    redis = Redis.from_url(redis_url, decode_responses=True)
    queue = EventQueue(redis)
    await queue.register_consumer(consumer)
    if step == "after_blmove":
        event_id = await redis.blmove(keys.QUEUE, keys.processing(consumer), 5, "LEFT", "RIGHT")
        print(f"moved {event_id!s}", flush=True)
        die()
    event = await queue.take(consumer, wait_seconds=5)
    assert event is not None, "no event to take"
    print(f"taken {event.event_id}", flush=True)
    if step == "after_claim":
        die()
    if step == "after_complete":
        await queue.complete(consumer, event, {"orders": []})
        die()
    if step == "after_fail":
        await queue.fail(consumer, event, "gateway unreachable", retry_delay_seconds=0)
        die()
    await asyncio.Event().wait()  # `wait`: killed from outside


if __name__ == "__main__":
    asyncio.run(run(sys.argv[1], sys.argv[2], sys.argv[3]))
