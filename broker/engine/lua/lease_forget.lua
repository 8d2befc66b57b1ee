-- lease_forget: drop finished leases (SHARD_END) of shards the stream no longer has
-- (trimmed after the retention period). Unfinished leases are kept.
-- flags: allow-oom
-- KEYS: leases  (of one stream consumer application)
-- ARGV: shard ids
-- Returns: the number of leases dropped.
-- Touches: leases.
local dropped = 0
for i = 1, #ARGV do
  local raw = redis.call('HGET', KEYS[1], ARGV[i])
  if raw and cmsgpack.unpack(raw).checkpoint == 'SHARD_END' then
    redis.call('HDEL', KEYS[1], ARGV[i])
    dropped = dropped + 1
  end
end
return dropped
