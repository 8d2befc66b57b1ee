-- lease_release: a worker gives a lease up (graceful shutdown, the end of a shard, or a
-- handoff): to the worker that asked for it, or to nobody (anyone may take it at once).
-- flags: allow-oom
-- KEYS: leases, workers  (of one stream consumer application)
-- ARGV: now_ms ('' = Redis TIME), worker id, shard id, token, live_ms (the asking worker
--       must have renewed this recently, else the lease goes to nobody)
-- Returns: {1, new owner ('' nobody)}; {0} when the worker no longer holds this
--          acquisition of the lease.
-- Touches: leases.
local now = now_ms(ARGV[1])
local raw = redis.call('HGET', KEYS[1], ARGV[3])
local l = raw and cmsgpack.unpack(raw)
if not l or l.owner ~= ARGV[2] or l.token ~= tonumber(ARGV[4]) then return {0} end
l.counter = l.counter + 1
l.renewed_ms = now
local asker = l.handoff_to ~= '' and redis.call('ZSCORE', KEYS[2], l.handoff_to)
if asker and tonumber(asker) >= now - tonumber(ARGV[5]) and l.checkpoint ~= 'SHARD_END' then
  l.owner = l.handoff_to
  l.token = l.counter
  l.switches = l.switches + 1
else
  l.owner = ''
end
l.handoff_to = ''
l.handoff_ms = 0
redis.call('HSET', KEYS[1], ARGV[3], cmsgpack.pack(l))
return {1, l.owner}
