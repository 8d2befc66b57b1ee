-- queue_state: a queue's stored attributes and message counts (GetQueueAttributes).
-- flags: no-writes
-- KEYS: meta, avail, inflight, dlqout, msgs, sources
-- ARGV: now_ms|''
-- Returns: {now_ms, visible, not_visible, delayed, {name, value, ...} of meta,
--           sent_ms of the oldest message at the head of avail/inflight (0: none),
--           number of queues using this one as their dead-letter queue}
--   visible counts in-flight messages whose visibility timeout ran out. The oldest
--   message is approximate, as SQS's ApproximateAgeOfOldestMessage is.
local meta, avail, inflight, msgs = KEYS[1], KEYS[2], KEYS[3], KEYS[5]
if redis.call('EXISTS', meta) == 0 then return fail('QueueDoesNotExist', NO_QUEUE) end
local now = now_ms(ARGV[1])
local visible = redis.call('ZCOUNT', avail, '-inf', now) +
  redis.call('ZCOUNT', inflight, '-inf', now)
local not_visible = redis.call('ZCOUNT', inflight, '(' .. now, '+inf') +
  redis.call('HLEN', KEYS[4])
local delayed = redis.call('ZCOUNT', avail, '(' .. now, '+inf')
local oldest = 0
for _, key in ipairs({avail, inflight}) do
  local head = redis.call('ZRANGE', key, 0, 0)
  local raw = head[1] and redis.call('HGET', msgs, head[1])
  if raw then
    local sent = cmsgpack.unpack(raw)[3]
    if oldest == 0 or sent < oldest then oldest = sent end
  end
end
return {now, visible, not_visible, delayed, redis.call('HGETALL', meta), oldest,
  redis.call('SCARD', KEYS[6])}
