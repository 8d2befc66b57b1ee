-- lease_renew: a worker's heartbeat: renews the leases it holds and records it as live.
-- flags: allow-oom
-- KEYS: leases, workers  (of one stream consumer application)
-- ARGV: now_ms ('' = Redis TIME), worker id, forget_ms (registry entries older than this
--       are dropped), live ('1': the worker goes on; '0': it is shutting down and only
--       keeps its leases until it has released them, out of the registry), then
--       triples: shard id, token, expected lease counter
-- Returns: per triple, two values: the new lease counter (0: the lease is no longer this
--          worker's acquisition: it is lost) and the worker that asked for it in a
--          graceful handoff ('' none). The expected counter is not required to match:
--          the token already tells acquisitions apart, and a renewal whose reply was
--          lost must not make the next one fail.
-- Touches: leases (counter, renewed_ms of the renewed ones), workers.
local leases, workers = KEYS[1], KEYS[2]
local now = now_ms(ARGV[1])
local worker = ARGV[2]
if ARGV[4] == '1' then
  redis.call('ZADD', workers, now, worker)
else
  redis.call('ZREM', workers, worker)
end
redis.call('ZREMRANGEBYSCORE', workers, '-inf', '(' .. (now - tonumber(ARGV[3])))
local out = {}
for i = 5, #ARGV, 3 do
  local raw = redis.call('HGET', leases, ARGV[i])
  local l = raw and cmsgpack.unpack(raw)
  if l and l.owner == worker and l.token == tonumber(ARGV[i + 1]) then
    l.counter = l.counter + 1
    l.renewed_ms = now
    redis.call('HSET', leases, ARGV[i], cmsgpack.pack(l))
    out[#out + 1] = l.counter
    out[#out + 1] = l.handoff_to
  else
    out[#out + 1] = 0
    out[#out + 1] = ''
  end
end
return out
