-- Give a queued conversation to an agent below their capacity (bot/handoff/store/redis.py).
-- KEYS: conv hash, queue zset, agent set, route, claimed hash
-- ARGV: id, agent, capacity (0 = no limit), now
-- Returns a ClaimResult value: claimed | taken | not_waiting | capacity
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'claimed' then return 'taken' end
if status ~= 'queued' then return 'not_waiting' end
local capacity = tonumber(ARGV[3])
if capacity > 0 and redis.call('SCARD', KEYS[3]) >= capacity then return 'capacity' end
redis.call('HSET', KEYS[1], 'status', 'claimed', 'agent', ARGV[2], 'claimed_at', ARGV[4])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[5], ARGV[1], ARGV[2])
redis.call('SET', KEYS[4], 'agent')
return 'claimed'
