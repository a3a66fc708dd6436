-- Rule 7: if `consumer` stopped heartbeating before `deadline` (or never registered), put its
-- in-flight ids back at the head of the queue in their order and free their accounts.
-- ARGV: consumer, deadline, reason
local consumer, deadline, reason = ARGV[1], ARGV[2], ARGV[3]
local seen = redis.call('ZSCORE', CONSUMERS, consumer)
if seen and tonumber(seen) > tonumber(deadline) then return {} end
local processing = processing_key(consumer)
local ids = redis.call('LRANGE', processing, 0, -1)
local recovered = {}
for i = #ids, 1, -1 do
  local id = ids[i]
  release_account(id)
  if redis.call('HEXISTS', EVENTS, id) == 1 then
    reset_to_queued(id)
    redis.call('HINCRBY', state_key(id), 'times_queued', 1)
    redis.call('HSET', state_key(id), 'last_error', reason)
    redis.call('LPUSH', QUEUE, id)
    table.insert(recovered, id)
  else
    record_tombstone(id)
    redis.call('DEL', state_key(id))
  end
end
redis.call('DEL', processing)
redis.call('ZREM', CONSUMERS, consumer)
return recovered
