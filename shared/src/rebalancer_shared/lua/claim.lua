-- Rule 2, second half: the id was just moved by BLMOVE into this consumer's processing list.
-- ARGV: consumer, id, now
local consumer, id, now = ARGV[1], ARGV[2], ARGV[3]
local processing = processing_key(consumer)
if redis.call('HEXISTS', EVENTS, id) == 0 then
  -- Deleted while queued.
  redis.call('LREM', processing, 1, id)
  if redis.call('HGET', state_key(id), 'status') ~= 'in_flight' then
    redis.call('DEL', state_key(id))
  end
  return {'gone'}
end
local account = redis.call('HGET', state_key(id), 'account_id')
local holder = redis.call('HGET', LOCKS, account)
if holder and holder ~= id and redis.call('HGET', state_key(holder), 'status') == 'in_flight' then
  -- Another event of this account runs (here or in another instance): park this one.
  redis.call('LREM', processing, 1, id)
  redis.call('RPUSH', waiting_key(account), id)
  return {'parked', holder}
end
redis.call('HSET', LOCKS, account, id)
redis.call('HSET', state_key(id), 'status', 'in_flight', 'consumer', consumer, 'started_at', now)
return {'claimed', redis.call('HGET', EVENTS, id), redis.call('HGETALL', state_key(id))}
