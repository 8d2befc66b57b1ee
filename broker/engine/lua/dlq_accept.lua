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
local n = #ARGV - 6
if n <= 0 then return {} end
local markers = {}
for i = 1, n do markers[i] = KEYS[11 + i] end
local seen = redis.call('MGET', unpack(markers))
local fresh = 0
local first = {}   -- a marker given twice in one call counts once
for i = 1, n do
  if not seen[i] and not first[markers[i]] then
    first[markers[i]] = i
    fresh = fresh + 1
  end
end
local out = {}
if fresh == 0 then
  for i = 1, n do out[i] = 0 end
  return out
end
local seq = redis.call('HINCRBY', meta, 'seq', fresh) - fresh
local records, scores, touched, tlist = {}, {}, {}, {}
local clock = nil
for i = 1, n do
  if seen[i] or first[markers[i]] ~= i then
    out[i] = 0
  else
    local rec = cmsgpack.unpack(ARGV[6 + i])
    rec[8] = ARGV[3]
    if fifo or ARGV[5] == '1' then rec[3] = now end
    if ARGV[5] == '1' then rec[4], rec[5], rec[7] = 0, 0, 0 end
    if ARGV[6] ~= '' and rec[10] then rec[11] = ARGV[6] end
    seq = seq + 1
    local m = member(seq)
    records[#records + 1] = m
    records[#records + 1] = cmsgpack.pack(rec)
    scores[#scores + 1] = now
    scores[#scores + 1] = m
    local tenant = rec[10] and rec[10] ~= '' and rec[10] or nil
    if fifo and tenant then
      redis.call('ZADD', f.groups, 0, group_member(tenant, m))
      if not touched[tenant] then
        touched[tenant] = true
        tlist[#tlist + 1] = tenant
      end
    elseif not fifo and (fair or tenant) then
      if not fair then
        fair = true
        redis.call('HSET', meta, 'x_fair', 1)
      end
      clock = clock or fair_clock(fk, meta)
      fair_enter(fk, m, tenant or '', clock)
    end
    redis.call('SET', markers[i], '1', 'PX', ARGV[4])
    out[i] = 1
  end
end
redis.call('HSET', msgs, unpack(records))
redis.call('ZADD', avail, unpack(scores))
refresh_groups(f, avail, tlist, now)   -- after the messages are in avail
wake(waiters, ARGV[2], now)
return out
