-- outbox_done: forget published messages whose deliveries are all done.
-- flags: allow-oom
-- KEYS: outbox, outq
-- ARGV: message ids
-- Returns: how many were still there.
-- Touches: outbox, outq.
local n = redis.call('HDEL', KEYS[1], unpack(ARGV))
redis.call('ZREM', KEYS[2], unpack(ARGV))
return n
