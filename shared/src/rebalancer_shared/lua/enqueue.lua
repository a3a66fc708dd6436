-- Rule 1. ARGV: id, dedup_key, account_id, body, now
local id, key, account, body, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if redis.call('SISMEMBER', ACTIVE, key) == 1 then
  local twin = redis.call('HGET', ACTIVE_IDS, key)
  if twin == id then
    -- The same event again: an earlier call wrote it and its reply was lost. Already done.
    return {'enqueued', id}
  end
  redis.call('INCR', DUPLICATES)
  if twin and redis.call('HGET', state_key(twin), 'status') == 'in_flight' then
    -- The twin is running: remember the newest duplicate so it runs once more afterwards
    -- (one extra run however many arrive; the newest one's body is kept).
    redis.call('HSET', state_key(twin), 'rerun_id', id, 'rerun_body', body)
    return {'rerun_marked', twin}
  end
  return {'duplicate', twin or ''}
end
insert_new(id, key, account, body, now)
return {'enqueued', id}
