-- dlq_accept: store a message moved from a source queue in its dead-letter queue.
-- Idempotent: a marker per message id makes a retried move (after a crash between this
-- call and dlq_settle on the source) a no-op.
-- KEYS: meta, msgs, avail, marker, waiters   (of the dead-letter queue)
-- ARGV: now_ms|'', wake_channel, record, source_queue_arn, marker_ttl_ms
-- Returns: 1 stored, 0 already stored, -1 the dead-letter queue does not exist.
-- Touches: meta (seq), msgs, avail, marker.
local meta, msgs, avail, marker, waiters = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
if redis.call('EXISTS', meta) == 0 then return -1 end
if redis.call('EXISTS', marker) == 1 then return 0 end
local now = now_ms(ARGV[1])
local rec = cmsgpack.unpack(ARGV[3])
rec[8] = ARGV[4]
local seq = member(redis.call('HINCRBY', meta, 'seq', 1))
redis.call('HSET', msgs, seq, cmsgpack.pack(rec))
redis.call('ZADD', avail, now, seq)
redis.call('SET', marker, '1', 'PX', ARGV[5])
wake(waiters, ARGV[2], now)
return 1
