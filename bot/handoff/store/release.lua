-- End an agent's claim, or abandon a queued or claimed conversation (bot/handoff/store/redis.py).
-- KEYS: conv hash, queue zset, route, claimed hash
-- ARGV: id, agent ('' = the taxpayer cancels), outcome (a status; 'queued' puts it back in the queue),
--       key prefix, and for 'queued': priority ('1' or '0'), score (store/base.py queue_score) and the
--       queued_at the score was computed from (the release fails if the hash holds another one)
-- Returns 1 when released, 0 when the conversation is not in a state that allows it.
local status = redis.call('HGET', KEYS[1], 'status')
local holder = redis.call('HGET', KEYS[1], 'agent') or ''
if ARGV[2] == '' then
  if status ~= 'queued' and status ~= 'claimed' then return 0 end
else
  if status ~= 'claimed' or holder ~= ARGV[2] then return 0 end
end
if ARGV[3] == 'queued' and (redis.call('HGET', KEYS[1], 'queued_at') or '') ~= ARGV[7] then return 0 end
if holder ~= '' then redis.call('SREM', ARGV[4] .. 'agent:' .. holder, ARGV[1]) end
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('DEL', KEYS[3])
redis.call('ZREM', KEYS[2], ARGV[1])
if ARGV[3] == 'queued' then
  redis.call('HSET', KEYS[1], 'status', 'queued', 'agent', '', 'priority', ARGV[5])
  redis.call('ZADD', KEYS[2], ARGV[6], ARGV[1])
else
  redis.call('HSET', KEYS[1], 'status', ARGV[3])
  redis.call('EXPIRE', KEYS[1], 604800)
end
return 1
