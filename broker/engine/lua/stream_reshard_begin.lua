-- stream_reshard_begin: start a reshard of an ACTIVE stream (SplitShard, MergeShards,
-- one step of UpdateShardCount): the stream turns UPDATING and remembers the plan, so
-- whoever finds it unfinished (a crash) can complete it. Child shard ids are allocated
-- here.
-- KEYS: meta  (of the stream)
-- ARGV: now_ms|'', epoch, children count, plan (msgpack map, without child ids)
-- Returns: the first child's shard index; or error ResourceInUseException when the
--          stream is not ACTIVE, ResourceNotFoundException when it is gone.
-- Touches: meta (status, reshard, reshard_ms, next_shard).
local meta = KEYS[1]
local cur = redis.call('HMGET', meta, 'epoch', 'status', 'arn')
if cur[1] ~= ARGV[2] then
  return fail('ResourceNotFoundException', 'Stream not found.')
end
if cur[2] ~= 'ACTIVE' then
  local name = cur[3]:match('stream/(.+)$')
  local account = cur[3]:match(':(%d+):stream/')
  return fail('ResourceInUseException', 'Stream ' .. name .. ' under account ' ..
    account .. ' not ACTIVE, instead in state ' .. cur[2])
end
local first = redis.call('HINCRBY', meta, 'next_shard', tonumber(ARGV[3])) - tonumber(ARGV[3])
redis.call('HSET', meta, 'status', 'UPDATING', 'reshard', ARGV[4], 'reshard_ms',
  now_ms(ARGV[1]), 'reshard_first', first)
return first
