-- Rule 6: due ids from the delayed set to the tail of the queue, oldest due first.
-- ARGV: now, limit
local due = redis.call('ZRANGEBYSCORE', DELAYED, '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(due) do
  redis.call('ZREM', DELAYED, id)
  if redis.call('HEXISTS', EVENTS, id) == 1 then
    reset_to_queued(id)
    redis.call('RPUSH', QUEUE, id)
  else
    redis.call('DEL', state_key(id))
  end
end
return #due
