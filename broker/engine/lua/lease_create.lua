-- lease_create: a shard sync's new leases; leases that exist already are left alone.
-- KEYS: leases  (of one stream consumer application)
-- ARGV: now_ms ('' = Redis TIME), then pairs: shard id, msgpack lease map (no owner)
-- Returns: the number of leases created.
-- Touches: leases.
local now = now_ms(ARGV[1])
local created = 0
for i = 2, #ARGV, 2 do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 0 then
    local l = cmsgpack.unpack(ARGV[i + 1])
    l.renewed_ms = now
    redis.call('HSET', KEYS[1], ARGV[i], cmsgpack.pack(l))
    created = created + 1
  end
end
return created
