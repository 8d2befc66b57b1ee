-- lease_checkpoint: record a shard's checkpoint (or a pending, prepared one), fenced by
-- the acquisition token: a worker that lost the lease, or holds an older acquisition of
-- it, can never overwrite the new owner's checkpoint.
-- flags: allow-oom
-- KEYS: leases  (of one stream consumer application)
-- ARGV: now_ms ('' = Redis TIME), shard id, worker id, token, kind ('checkpoint' or
--       'prepare'), value (a sequence number, or SHARD_END), then, with SHARD_END,
--       pairs: child shard id, msgpack lease map (created when missing)
-- Returns: 1; 0 when the worker does not hold this acquisition of the lease; -1 when the
--          lease is finished (SHARD_END is final).
-- Touches: leases.
local leases = KEYS[1]
local now = now_ms(ARGV[1])
local raw = redis.call('HGET', leases, ARGV[2])
local l = raw and cmsgpack.unpack(raw)
if not l or l.owner ~= ARGV[3] or l.token ~= tonumber(ARGV[4]) then return 0 end
if l.checkpoint == 'SHARD_END' then return -1 end
if ARGV[5] == 'prepare' then
  l.pending = ARGV[6]
else
  l.checkpoint = ARGV[6]
  l.pending = ''
  l.switches = 0
  if ARGV[6] == 'SHARD_END' then
    local children = {}
    for i = 7, #ARGV, 2 do
      children[#children + 1] = ARGV[i]
      if redis.call('HEXISTS', leases, ARGV[i]) == 0 then
        local c = cmsgpack.unpack(ARGV[i + 1])
        c.renewed_ms = now
        redis.call('HSET', leases, ARGV[i], cmsgpack.pack(c))
      end
    end
    l.children = children
  end
end
redis.call('HSET', leases, ARGV[2], cmsgpack.pack(l))
return 1
