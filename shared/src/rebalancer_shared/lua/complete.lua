-- Rule 3. ARGV: consumer, id, now, history_record, history_limit, orders_placed
local consumer, id, now, record, limit = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local orders_placed = tonumber(ARGV[6] or '0')
if redis.call('LREM', processing_key(consumer), 1, id) == 0 then return {'not_owned'} end
local state = state_key(id)
local deleted = redis.call('HEXISTS', EVENTS, id) == 0
local rerun_id = redis.call('HGET', state, 'rerun_id')
local rerun_body = redis.call('HGET', state, 'rerun_body')
local key = redis.call('HGET', state, 'dedup_key')
local account = redis.call('HGET', state, 'account_id')
release_account(id)
forget(id)
push_history(record, limit)
-- A deleted event was counted by the delete.
if not deleted then redis.call('HINCRBY', COUNTERS, 'succeeded', 1) end
if orders_placed > 0 then redis.call('HINCRBY', COUNTERS, 'orders_placed', orders_placed) end
if rerun_id and not deleted then
  insert_new(rerun_id, key, account, rerun_body, now)
  return {'rerun_enqueued', rerun_id}
end
return {deleted and 'deleted' or 'completed'}
