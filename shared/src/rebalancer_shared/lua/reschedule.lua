-- Rules 4 (status 'retry') and 5 (status 'delayed'): from processing to the delayed set.
-- ARGV: consumer, id, now, ready_at, status, reason, history_record, history_limit, orders_placed
local consumer, id, now, ready_at, status, reason, record, limit =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local orders_placed = tonumber(ARGV[9] or '0')
if redis.call('LREM', processing_key(consumer), 1, id) == 0 then return {'not_owned'} end
-- Orders placed by a failed attempt were placed all the same: they count.
if orders_placed > 0 then redis.call('HINCRBY', COUNTERS, 'orders_placed', orders_placed) end
release_account(id)
push_history(record, limit)
local state = state_key(id)
if redis.call('HEXISTS', EVENTS, id) == 0 then
  -- Deleted while it ran: the record above is its one record.
  redis.call('DEL', deleted_key(id))
  redis.call('DEL', state)
  return {'deleted'}
end
-- The event itself runs again later, after any update that arrived: no extra run needed.
reset_to_queued(id)
redis.call('HSET', state, 'status', status, 'not_before', ready_at)
if status == 'retry' then
  redis.call('HINCRBY', state, 'times_queued', 1)
  redis.call('HSET', state, 'last_error', reason)
  redis.call('HINCRBY', COUNTERS, 'failed', 1)
else
  redis.call('HSET', state, 'delay_reason', reason)
  redis.call('HINCRBY', COUNTERS, 'delayed', 1)
end
redis.call('ZADD', DELAYED, ready_at, id)
return {status}
