-- ARGV: consumer, now, register ('1' to register, '0' to only refresh)
-- Returns 0 when a refresh finds the consumer gone: it was declared dead and its events were
-- handed to others, so it must stop working on them.
local consumer, now, register = ARGV[1], ARGV[2], ARGV[3]
if register ~= '1' and not redis.call('ZSCORE', CONSUMERS, consumer) then return 0 end
redis.call('ZADD', CONSUMERS, now, consumer)
return 1
