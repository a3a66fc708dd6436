-- Run a waiting (retry or delayed) event now: from the delayed set to the head of the queue.
-- ARGV: id
local id = ARGV[1]
if redis.call('ZREM', DELAYED, id) == 0 then return 0 end
reset_to_queued(id)
redis.call('LPUSH', QUEUE, id)
return 1
