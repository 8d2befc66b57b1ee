-- lease_handoff: ask a lease's owner to hand it over gracefully (KCL 3's handoff): the
-- owner checkpoints, then releases it straight to the asking worker. Ownership does
-- not change here, and the counter does not move.
-- KEYS: leases  (of one stream consumer application)
-- ARGV: now_ms ('' = Redis TIME), shard id, the owner seen, the asking worker
-- Returns: 1 when asked; 0 when the lease changed owner, is unowned, finished, or is
--          already being handed to someone.
-- Touches: leases (handoff_to, handoff_ms).
local now = now_ms(ARGV[1])
local raw = redis.call('HGET', KEYS[1], ARGV[2])
local l = raw and cmsgpack.unpack(raw)
if not l or l.owner == '' or l.owner ~= ARGV[3] or l.checkpoint == 'SHARD_END'
    or l.handoff_to ~= '' then
  return 0
end
l.handoff_to = ARGV[4]
l.handoff_ms = now
redis.call('HSET', KEYS[1], ARGV[2], cmsgpack.pack(l))
return 1
