-- Status counts in one consistent read. KEYS: processing lists, then waiting lists (found by
-- SCAN); ARGV: number of processing lists.
local processing_lists = tonumber(ARGV[1])
local processing, waiting = 0, 0
for i, key in ipairs(KEYS) do
  if i <= processing_lists then processing = processing + redis.call('LLEN', key)
  else waiting = waiting + redis.call('LLEN', key) end
end
local retry, delayed = 0, 0
for _, id in ipairs(redis.call('ZRANGE', DELAYED, 0, -1)) do
  if redis.call('HGET', state_key(id), 'status') == 'retry' then retry = retry + 1
  else delayed = delayed + 1 end
end
local oldest = ''
for _, id in ipairs(redis.call('HVALS', ACTIVE_IDS)) do
  local at = redis.call('HGET', state_key(id), 'queued_at')
  if at and (oldest == '' or tonumber(at) < tonumber(oldest)) then oldest = at end
end
return {redis.call('LLEN', QUEUE), waiting, redis.call('SCARD', ACTIVE), retry, delayed,
  processing, oldest}
