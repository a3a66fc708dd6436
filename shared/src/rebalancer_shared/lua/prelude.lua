-- Shared by every queue script. {NAME} placeholders are filled from keys.py by queue.py, so the
-- key names exist in one place. All time values are unix seconds passed in by the caller.
local QUEUE = '{QUEUE}'
local DELAYED = '{DELAYED}'
local ACTIVE = '{ACTIVE}'
local EVENTS = '{EVENTS}'
local HISTORY = '{HISTORY}'
local ACTIVE_IDS = '{ACTIVE_IDS}'
local LOCKS = '{ACCOUNT_LOCKS}'
local CONSUMERS = '{CONSUMERS}'
local COUNTERS = '{COUNTERS}'
local DUPLICATES = '{DUPLICATES_TOTAL}'
local function state_key(id) return '{STATE_PREFIX}' .. id end
local function processing_key(consumer) return '{PROCESSING_PREFIX}' .. consumer end
local function waiting_key(account) return '{ACCOUNT_WAITING_PREFIX}' .. account end
local function deleted_key(id) return '{DELETED_PREFIX}' .. id end

-- Free the account held by event `id` (if it holds it) and put the events that were parked
-- behind it back at the head of the queue, oldest first.
local function release_account(id)
  local account = redis.call('HGET', state_key(id), 'account_id')
  if not account then return end
  if redis.call('HGET', LOCKS, account) == id then
    redis.call('HDEL', LOCKS, account)
    local waiting = waiting_key(account)
    local parked = redis.call('LRANGE', waiting, 0, -1)
    for i = #parked, 1, -1 do redis.call('LPUSH', QUEUE, parked[i]) end
    redis.call('DEL', waiting)
  end
end

local function push_history(record, limit)
  if record ~= nil and record ~= '' then
    redis.call('LPUSH', HISTORY, record)
    redis.call('LTRIM', HISTORY, 0, tonumber(limit) - 1)
  end
end

-- Drop the dedup key if it still belongs to `id` (a newer event may hold the same key).
local function drop_dedup_key(id)
  local key = redis.call('HGET', state_key(id), 'dedup_key')
  if key and redis.call('HGET', ACTIVE_IDS, key) == id then
    redis.call('SREM', ACTIVE, key)
    redis.call('HDEL', ACTIVE_IDS, key)
  end
end

-- Remove an event for good: dedup key, body, state and tombstone.
local function forget(id)
  drop_dedup_key(id)
  redis.call('HDEL', EVENTS, id)
  redis.call('DEL', state_key(id))
  redis.call('DEL', deleted_key(id))
end

-- An event deleted while in flight ends without a report of its own (handed back, recovered):
-- its history record is the one the delete left in the tombstone. Trimmed by the next push.
local function record_tombstone(id)
  local record = redis.call('GET', deleted_key(id))
  if record then redis.call('LPUSH', HISTORY, record) end
  redis.call('DEL', deleted_key(id))
end

-- Write a new event: dedup key, body and state together, id at the tail of the queue.
local function insert_new(id, key, account, body, now)
  redis.call('SADD', ACTIVE, key)
  redis.call('HSET', ACTIVE_IDS, key, id)
  redis.call('HSET', EVENTS, id, body)
  redis.call('HSET', state_key(id), 'status', 'queued', 'times_queued', 1,
    'account_id', account, 'dedup_key', key, 'queued_at', now)
  redis.call('RPUSH', QUEUE, id)
end

-- Back to `queued` with no consumer; the caller decides where the id goes.
local function reset_to_queued(id)
  redis.call('HSET', state_key(id), 'status', 'queued')
  redis.call('HDEL', state_key(id), 'consumer', 'started_at', 'rerun_id', 'rerun_body', 'not_before')
end
