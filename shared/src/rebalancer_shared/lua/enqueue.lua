-- Rule 1. ARGV: id, dedup_key, account_id, body, now
local id, key, account, body, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if redis.call('SISMEMBER', ACTIVE, key) == 1 then
  redis.call('INCR', DUPLICATES)
  local twin = redis.call('HGET', ACTIVE_IDS, key)
  if twin and redis.call('HGET', state_key(twin), 'status') == 'in_flight' then
    -- The twin is running: remember the newest duplicate so it runs once more afterwards.
    local first_mark = redis.call('HEXISTS', state_key(twin), 'rerun_id') == 0
    redis.call('HSET', state_key(twin), 'rerun_id', id, 'rerun_body', body)
    if first_mark then return {'rerun_marked', twin} end
  end
  return {'duplicate', twin or ''}
end
insert_new(id, key, account, body, now)
return {'enqueued', id}
