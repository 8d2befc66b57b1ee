-- stream_create: record a new stream (CreateStream) in state CREATING with its shards;
-- the caller then opens each shard (stream_open_shard, in the shard's own slot) and makes
-- the stream ACTIVE (stream_status).
-- KEYS: meta, shards, tags  (of the stream)
-- ARGV: now_ms|'', arn, mode, retention_hours, epoch, shard_count, then shard_count
--       pairs (shard id, msgpack shard map), then tag key/value pairs
-- Returns: created_ms, or error ResourceInUseException when the stream exists.
-- Touches: meta, shards, tags.
local meta, shards, tags = KEYS[1], KEYS[2], KEYS[3]
if redis.call('EXISTS', meta) == 1 then
  return fail('ResourceInUseException', 'Stream ' .. ARGV[2]:match('[^/]+$') ..
    ' under account ' .. ARGV[2]:match(':(%d+):') .. ' already exists.')
end
local now = now_ms(ARGV[1])
local n = tonumber(ARGV[6])
redis.call('HSET', meta, 'arn', ARGV[2], 'status', 'CREATING', 'mode', ARGV[3],
  'retention_h', ARGV[4], 'epoch', ARGV[5], 'created_ms', now, 'next_shard', n)
local pairs_ = {}
for i = 7, 6 + 2 * n do pairs_[#pairs_ + 1] = ARGV[i] end
if #pairs_ > 0 then redis.call('HSET', shards, unpack(pairs_)) end
local t = {}
for i = 7 + 2 * n, #ARGV do t[#t + 1] = ARGV[i] end
if #t > 0 then redis.call('HSET', tags, unpack(t)) end
return now
