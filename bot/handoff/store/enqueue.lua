-- Queue a conversation unless it is already queued or claimed (bot/handoff/store/redis.py).
-- KEYS: conv hash, queue zset
-- ARGV: id, score (store/base.py queue_score), then the hash's field/value pairs
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'queued' or status == 'claimed' then return 0 end
redis.call('DEL', KEYS[1])
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('HSET', KEYS[1], 'status', 'queued', 'agent', '')
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
