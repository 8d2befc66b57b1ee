-- lease_table: one consistent read of a stream consumer application's lease table.
-- flags: no-writes
-- KEYS: leases, workers  (of one stream consumer application)
-- ARGV: now_ms ('' = Redis TIME), live_ms (a worker is live when it renewed this recently)
-- Returns: {now_ms, {shard id, msgpack lease, ...}, {live worker id, ...}}: lease expiry
--          is judged against this server time, never a worker's clock.
-- Touches: nothing.
local now = now_ms(ARGV[1])
return {now, redis.call('HGETALL', KEYS[1]),
  redis.call('ZRANGEBYSCORE', KEYS[2], now - tonumber(ARGV[2]), '+inf')}
