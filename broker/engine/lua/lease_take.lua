-- lease_take: a worker takes leases (expired, unowned, or stolen), each conditional on
-- the lease counter it saw: of two workers racing for a lease, one wins.
-- flags: allow-oom
-- KEYS: leases  (of one stream consumer application)
-- ARGV: now_ms ('' = Redis TIME), worker id, then pairs: shard id, expected lease counter
-- Returns: per pair, the lease as now stored (msgpack) when taken, or '' when its counter
--          moved, it is gone or it is finished (SHARD_END).
-- Touches: leases. A take makes a new acquisition: token = the new counter, so writes
-- fenced by the previous owner's token fail from now on.
local leases = KEYS[1]
local now = now_ms(ARGV[1])
local worker = ARGV[2]
local out = {}
for i = 3, #ARGV, 2 do
  local raw = redis.call('HGET', leases, ARGV[i])
  local l = raw and cmsgpack.unpack(raw)
  if l and l.counter == tonumber(ARGV[i + 1]) and l.checkpoint ~= 'SHARD_END' then
    if l.owner ~= worker then l.switches = l.switches + 1 end
    l.owner = worker
    l.counter = l.counter + 1
    l.token = l.counter
    l.renewed_ms = now
    l.handoff_to = ''
    l.handoff_ms = 0
    local packed = cmsgpack.pack(l)
    redis.call('HSET', leases, ARGV[i], packed)
    out[#out + 1] = packed
  else
    out[#out + 1] = ''
  end
end
return out
