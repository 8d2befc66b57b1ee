-- stream_reshard_begin: start a reshard of an ACTIVE stream (SplitShard, MergeShards,
-- one step of UpdateShardCount): the stream turns UPDATING and remembers the plan, so
-- whoever finds it unfinished (a crash) can complete it. Child shard ids are allocated
-- here; the first one also names the plan (stream_reshard_end checks it).
-- KEYS: meta, shards  (of the stream)
-- ARGV: now_ms|'', epoch, children count, plan (JSON), then the parent shard ids
-- Returns: the first child's shard index; or error ResourceInUseException when the
--          stream is not ACTIVE, ResourceNotFoundException when it is gone,
--          InvalidArgumentException when a parent is closed (split or merged already).
-- Touches: meta (status, reshard, reshard_ms, reshard_first, next_shard).
local meta, shards = KEYS[1], KEYS[2]
local cur = redis.call('HMGET', meta, 'epoch', 'status', 'arn')
if cur[1] ~= ARGV[2] then
  return fail('ResourceNotFoundException', 'Stream not found.')
end
local name = cur[3]:match('stream/(.+)$')
local account = cur[3]:match(':(%d+):stream/')
if cur[2] ~= 'ACTIVE' then
  return fail('ResourceInUseException', 'Stream ' .. name .. ' under account ' ..
    account .. ' not ACTIVE, instead in state ' .. cur[2])
end
for i = 5, #ARGV do
  local raw = redis.call('HGET', shards, ARGV[i])
  if not raw or cmsgpack.unpack(raw).se then
    return fail('InvalidArgumentException', 'Shard ' .. ARGV[i] .. ' in stream ' .. name ..
      ' under account ' .. account .. ' has already been merged or split, and thus ' ..
      'is not eligible for merging or splitting.')
  end
end
local first = redis.call('HINCRBY', meta, 'next_shard', tonumber(ARGV[3])) - tonumber(ARGV[3])
redis.call('HSET', meta, 'status', 'UPDATING', 'reshard', ARGV[4], 'reshard_ms',
  now_ms(ARGV[1]), 'reshard_first', first)
return first
