-- stream_reshard_end: finish a reshard (idempotent): the parents get their ending
-- sequence numbers, the children join the shard map, the stream is ACTIVE again. Only
-- the plan it names is finished: a late caller of a reshard someone else finished does
-- nothing (and cannot end a newer one).
-- KEYS: meta, shards  (of the stream)
-- ARGV: epoch, the plan's first child index, then pairs (shard id, msgpack shard map)
-- Returns: 1 finished now, 0 nothing to do (finished before, or another incarnation).
-- Touches: meta (status, reshard), shards.
local meta, shards = KEYS[1], KEYS[2]
local cur = redis.call('HMGET', meta, 'epoch', 'reshard', 'reshard_first')
if cur[1] ~= ARGV[1] or not cur[2] or cur[3] ~= ARGV[2] then return 0 end
local kv = {}
for i = 3, #ARGV do kv[#kv + 1] = ARGV[i] end
if #kv > 0 then redis.call('HSET', shards, unpack(kv)) end
redis.call('HDEL', meta, 'reshard', 'reshard_ms', 'reshard_first')
redis.call('HSET', meta, 'status', 'ACTIVE')
return 1
