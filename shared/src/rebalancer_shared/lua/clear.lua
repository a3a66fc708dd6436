-- Delete every event that is not in flight. KEYS: the account waiting lists found by SCAN.
-- ARGV: now, history_limit. Returns the number of events deleted.
local ids = {}
for _, id in ipairs(redis.call('LRANGE', QUEUE, 0, -1)) do table.insert(ids, id) end
for _, id in ipairs(redis.call('ZRANGE', DELAYED, 0, -1)) do table.insert(ids, id) end
for _, waiting in ipairs(KEYS) do
  for _, id in ipairs(redis.call('LRANGE', waiting, 0, -1)) do table.insert(ids, id) end
  redis.call('DEL', waiting)
end
redis.call('DEL', QUEUE)
redis.call('DEL', DELAYED)
local count = 0
for _, id in ipairs(ids) do
  if redis.call('HEXISTS', EVENTS, id) == 1 then
    count = count + 1
    -- Strings only: cjson would round numbers. account:exec comes from the dedup key.
    local key = redis.call('HGET', state_key(id), 'dedup_key') or ''
    local account, command = string.match(key, '^([^:]*):(.*)$')
    push_history(cjson.encode({event_id = id, account_id = account or '', exec = command or '',
      outcome = 'deleted', finished_at = ARGV[1], error = 'cleared with every waiting event'}),
      ARGV[2])
  end
  forget(id)
end
redis.call('HINCRBY', COUNTERS, 'deleted', count)
return count
