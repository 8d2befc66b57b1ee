-- dlq_accept: store messages moved from elsewhere: from a source queue into its
-- dead-letter queue, back out of a dead-letter queue by a message move task, or from a
-- topic to a subscribed queue (the last two as new messages: new id, given by the
-- caller, receive count 0, enqueued now).
-- Idempotent: a marker per message moved makes a retried move (after a crash between
-- this call and the settle where it came from) a no-op.
-- A FIFO queue files a message under its group (and, for a dead-letter move, its
-- retention starts again: SQS resets a FIFO message's enqueue timestamp on the move); a
-- standard queue receiving a tenant's message (a MessageGroupId) turns fair.
-- KEYS: meta, msgs, avail, waiters, groups, ready, ingroup, fair, fairvt, tenant,
--       tenantin (of the receiving queue), then one marker per record
-- ARGV: now_ms|'', wake_channel, source_queue_arn ('' none), marker_ttl_ms, '1' = new
--       messages | '', deduplication id to store ('' keep: SQS replaces it with the
--       message id on a move into a FIFO DLQ), then the records (msgpack), one per marker
-- Returns: {status_1..status_n}: 1 stored, 0 already stored; or -1 when the queue does
--          not exist.
-- Touches: meta (seq, x_fair), msgs, avail, markers, groups, ready, fair, fairvt, tenant.
local meta, msgs, avail, waiters = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local cfg = redis.call('HMGET', meta, 'VisibilityTimeout', 'FifoQueue', 'x_fair')
if not cfg[1] then return -1 end
local fifo = cfg[2] == 'true'
local fair = cfg[3] ~= false
local f = fifo_keys(KEYS, 5)
local fk = fair_keys(KEYS, 8)
local now = now_ms(ARGV[1])
local out = {}
local stored = false
local clock = nil
for i = 7, #ARGV do
  local marker = KEYS[5 + i]
  if redis.call('EXISTS', marker) == 1 then
    out[#out + 1] = 0
  else
    local rec = cmsgpack.unpack(ARGV[i])
    rec[8] = ARGV[3]
    if fifo or ARGV[5] == '1' then rec[3] = now end
    if ARGV[5] == '1' then rec[4], rec[5], rec[7] = 0, 0, 0 end
    if ARGV[6] ~= '' and rec[10] then rec[11] = ARGV[6] end
    local seq = member(redis.call('HINCRBY', meta, 'seq', 1))
    redis.call('HSET', msgs, seq, cmsgpack.pack(rec))
    redis.call('ZADD', avail, now, seq)
    local tenant = rec[10] and rec[10] ~= '' and rec[10] or nil
    if fifo and tenant then
      redis.call('ZADD', f.groups, 0, group_member(tenant, seq))
      refresh_group(f, avail, tenant, now)
    elseif not fifo and (fair or tenant) then
      if not fair then
        fair = true
        redis.call('HSET', meta, 'x_fair', 1)
      end
      clock = clock or fair_clock(fk, meta)
      fair_enter(fk, seq, tenant or '', clock)
    end
    redis.call('SET', marker, '1', 'PX', ARGV[4])
    stored = true
    out[#out + 1] = 1
  end
end
if stored then wake(waiters, ARGV[2], now) end
return out
