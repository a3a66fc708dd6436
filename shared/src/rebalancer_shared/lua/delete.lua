-- Rule 8. ARGV: id, history_record, history_limit, in_flight_record, tombstone_ttl_seconds
local id, record, limit = ARGV[1], ARGV[2], ARGV[3]
local in_flight_record, ttl = ARGV[4], ARGV[5]
local state = state_key(id)
if redis.call('HEXISTS', EVENTS, id) == 0 then return {'not_found'} end
local status = redis.call('HGET', state, 'status')
local account = redis.call('HGET', state, 'account_id')
redis.call('LREM', QUEUE, 0, id)
redis.call('ZREM', DELAYED, id)
if account then redis.call('LREM', waiting_key(account), 0, id) end
redis.call('HINCRBY', COUNTERS, 'deleted', 1)
if status == 'in_flight' then
  -- Its worker is placing orders now: it keeps the account lock and its processing entry until
  -- it reports, so no other event of the account starts meanwhile. The tombstone tells it to
  -- stop before its next order batch; it records the outcome with the orders done so far (the
  -- tombstone holds a record without them for when it ends otherwise). The event is gone
  -- otherwise.
  drop_dedup_key(id)
  redis.call('HDEL', EVENTS, id)
  redis.call('HDEL', state, 'rerun_id', 'rerun_body')
  redis.call('SET', deleted_key(id), in_flight_record, 'EX', tonumber(ttl))
  return {'deleted_in_flight'}
end
push_history(record, limit)
forget(id)
return {'deleted'}
