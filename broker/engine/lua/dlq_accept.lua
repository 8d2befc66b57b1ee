-- dlq_accept: store a message moved from another queue: from a source queue into its
-- dead-letter queue, or back out of a dead-letter queue by a message move task (as a new
-- message: new id, given by the caller, receive count 0, enqueued now).
-- Idempotent: a marker per move makes a retried move (after a crash between this call
-- and the settle on the queue it came from) a no-op.
-- A FIFO dead-letter queue files the message under its group, and its retention starts
-- again from the move (SQS resets a FIFO message's enqueue timestamp on the move).
-- KEYS: meta, msgs, avail, marker, waiters, groups, ready, ingroup, fair, fairvt, tenant,
--       tenantin
--       (of the dead-letter queue)
-- ARGV: now_ms|'', wake_channel, record, source_queue_arn ('' none: a redriven message),
--       marker_ttl_ms, '1' = a new message (redrive) | '', deduplication id to store
--       ('' keep: SQS replaces it with the message id on a move into a FIFO DLQ)
-- Returns: 1 stored, 0 already stored, -1 the dead-letter queue does not exist.
-- Touches: meta (seq), msgs, avail, marker, groups, ready.
local meta, msgs, avail, marker, waiters = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local cfg = redis.call('HMGET', meta, 'VisibilityTimeout', 'FifoQueue', 'x_fair')
if not cfg[1] then return -1 end
local fifo = cfg[2]
if redis.call('EXISTS', marker) == 1 then return 0 end
local now = now_ms(ARGV[1])
local rec = cmsgpack.unpack(ARGV[3])
rec[8] = ARGV[4]
if fifo == 'true' or ARGV[6] == '1' then rec[3] = now end
if ARGV[6] == '1' then
  rec[4], rec[5], rec[7] = 0, 0, 0
end
if ARGV[7] ~= '' and rec[10] then rec[11] = ARGV[7] end
local seq = member(redis.call('HINCRBY', meta, 'seq', 1))
redis.call('HSET', msgs, seq, cmsgpack.pack(rec))
redis.call('ZADD', avail, now, seq)
if fifo == 'true' and rec[10] and rec[10] ~= '' then
  local f = fifo_keys(KEYS, 6)
  redis.call('ZADD', f.groups, 0, group_member(rec[10], seq))
  refresh_group(f, avail, rec[10], now)
end
if fifo ~= 'true' and (cfg[3] or (rec[10] and rec[10] ~= '')) then
  -- a standard queue receiving a tenant's message is (now) a fair queue
  if not cfg[3] then redis.call('HSET', meta, 'x_fair', 1) end
  local fk = fair_keys(KEYS, 9)
  fair_enter(fk, seq, rec[10] or '', fair_clock(fk, meta))
end
redis.call('SET', marker, '1', 'PX', ARGV[5])
wake(waiters, ARGV[2], now)
return 1
