-- queue_state: a queue's stored attributes and message counts (GetQueueAttributes).
-- flags: no-writes
-- KEYS: meta, avail, inflight, dlqout
-- ARGV: now_ms|''
-- Returns: {now_ms, visible, not_visible, delayed, {name, value, ...} of meta}
--   visible counts in-flight messages whose visibility timeout ran out.
local meta, avail, inflight = KEYS[1], KEYS[2], KEYS[3]
if redis.call('EXISTS', meta) == 0 then return fail('QueueDoesNotExist', NO_QUEUE) end
local now = now_ms(ARGV[1])
local visible = redis.call('ZCOUNT', avail, '-inf', now) +
  redis.call('ZCOUNT', inflight, '-inf', now)
local not_visible = redis.call('ZCOUNT', inflight, '(' .. now, '+inf') +
  redis.call('HLEN', KEYS[4])
local delayed = redis.call('ZCOUNT', avail, '(' .. now, '+inf')
return {now, visible, not_visible, delayed, redis.call('HGETALL', meta)}
