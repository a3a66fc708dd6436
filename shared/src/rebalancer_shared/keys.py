"""Every Redis key the system uses, in one place.

The first six are the names of SPEC section 5 (kept from the project we replace). Lists and sets
hold event ids; the immutable event body lives in `rebalance_events`, and the few fields that
change while an event moves through the queue (status, times_queued, last_error, ...) live in a
small hash per event, so that the Lua scripts never decode or re-encode JSON (Redis's cjson
rounds numbers to 14 digits and turns empty lists into objects).
"""

from __future__ import annotations

# --- SPEC section 5 -------------------------------------------------------------------------
QUEUE = "rebalance_queue"
"""list: ids ready to run; enqueue and promotion push right (tail), takers pop left (head)."""

PROCESSING_PREFIX = "rebalance_processing:"
"""list per consumer: ids a processor instance has taken (reliable pop with BLMOVE)."""

DELAYED = "rebalance_delayed_set"
"""sorted set: ids waiting (retry or market hours), scored by the unix time they become ready."""

ACTIVE = "active_events"
"""set: `account_id:exec` of every event queued, in flight or waiting (the dedup keys)."""

EVENTS = "rebalance_events"
"""hash: event id -> event JSON as enqueued."""

HISTORY = "rebalance_history"
"""capped list, newest first: JSON records of finished attempts (succeeded, failed, delayed...)."""

# --- Ours: the bookkeeping that makes the rules above safe -----------------------------------
STATE_PREFIX = "rebalance_event_state:"
"""hash per event id: status, times_queued, last_error, not_before, consumer, ..."""

ACTIVE_IDS = "rebalance_active_ids"
"""hash: dedup key -> id of the event that holds it (to find the twin of a duplicate)."""

ACCOUNT_LOCKS = "rebalance_account_locks"
"""hash: account id -> id of the event in flight for it (one at a time, across instances)."""

ACCOUNT_WAITING_PREFIX = "rebalance_account_waiting:"
"""list per account: ids taken while another event of the account was in flight; they go back
to the head of the queue when that event ends."""

DELETED_PREFIX = "rebalance_deleted:"
"""string per event id (with a TTL): the event was deleted through the management API while a
processor ran it; holds its history record. The processor checks it before each order batch and
stops (written by the delete script, dropped when the processor reports)."""

CONSUMERS = "rebalance_consumers"
"""sorted set: consumer name -> unix time of its last heartbeat."""

PAUSED = "rebalance_paused"
"""string: present while processing is paused (the kill switch); holds who paused and when."""

DUPLICATES_TOTAL = "rebalance_duplicates_total"
"""counter: events dropped as duplicates at enqueue."""

COUNTERS = "rebalance_counters"
"""hash: outcome -> count since the queue was created (succeeded, failed, delayed, orders...)."""

SERVICE_HEARTBEATS = "service_heartbeats"
"""hash: service name -> JSON {"at": unix time, ...service facts} for the management API."""

STREAM_SEEN_PREFIX = "zehnlabs_seen:"
"""string per stream message id (with a TTL): the broker has enqueued this message already."""

STREAM_LAST_REBALANCE = "zehnlabs_last_rebalance_on"
"""hash: strategy -> last_rebalance_on the broker has seen (for catch-up after downtime)."""


def processing(consumer: str) -> str:
    return f"{PROCESSING_PREFIX}{consumer}"


def state(event_id: str) -> str:
    return f"{STATE_PREFIX}{event_id}"


def deleted(event_id: str) -> str:
    return f"{DELETED_PREFIX}{event_id}"


def stream_seen(message_id: str) -> str:
    return f"{STREAM_SEEN_PREFIX}{message_id}"
