-- dlq_settle: finish a dead-letter move on the source queue: forget the outbox entry,
-- or (restore = '1', when the dead-letter queue is gone) make the message visible again.
-- flags: allow-oom
-- KEYS: msgs, avail, dlqout    (of the source queue)
-- ARGV: now_ms|'', seq, restore ('1' | '0')
-- Returns: 1 settled, 0 no such outbox entry.
-- Touches: dlqout, and msgs/avail on restore.
local raw = redis.call('HGET', KEYS[3], ARGV[2])
if not raw then return 0 end
redis.call('HDEL', KEYS[3], ARGV[2])
if ARGV[3] == '1' then
  redis.call('HSET', KEYS[1], ARGV[2], raw)
  redis.call('ZADD', KEYS[2], now_ms(ARGV[1]), ARGV[2])
end
return 1
