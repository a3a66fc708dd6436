-- Hand an event back unfinished (graceful shutdown): from processing to the head of the queue.
-- ARGV: consumer, id
local consumer, id = ARGV[1], ARGV[2]
if redis.call('LREM', processing_key(consumer), 1, id) == 0 then return {'not_owned'} end
release_account(id)
if redis.call('HEXISTS', EVENTS, id) == 0 then
  record_tombstone(id)
  redis.call('DEL', state_key(id))
  return {'deleted'}
end
reset_to_queued(id)
redis.call('LPUSH', QUEUE, id)
return {'released'}
