-- dlq_settle: finish a dead-letter move on the source queue.
--   mode 'ack'     the dead-letter queue stored it: forget the outbox entry;
--   mode 'deliver' the dead-letter queue is gone: deliver the message as this receive's
--                  (receive count + 1, in flight for the visibility timeout), as SQS
--                  keeps delivering from the source when its DLQ no longer exists;
--   mode 'return'  the dead-letter queue is gone and the receive is full: make the
--                  message visible again.
-- flags: allow-oom
-- On a FIFO source the message goes back to the head of its group.
-- KEYS: meta, msgs, avail, inflight, dlqout, groups, ready, ingroup, fair, fairvt, tenant,
--       tenantin  (of the source queue)
-- ARGV: now_ms|'', seq, mode, visibility_timeout_s|'' (queue default)
-- Returns: 0 no such outbox entry; 1 settled; for 'deliver', the updated record.
-- Touches: dlqout; msgs, avail or inflight, groups, ready, ingroup unless 'ack'.
local meta, msgs, avail, inflight, dlqout = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local raw = redis.call('HGET', dlqout, ARGV[2])
if not raw then return 0 end
redis.call('HDEL', dlqout, ARGV[2])
local now = now_ms(ARGV[1])
if ARGV[3] == 'ack' then return 1 end
local cfg = redis.call('HMGET', meta, 'VisibilityTimeout', 'FifoQueue', 'x_fair')
local fk = cfg[3] and fair_keys(KEYS, 9) or nil
local rec = cmsgpack.unpack(raw)
local g = cfg[2] == 'true' and rec[10] ~= '' and rec[10] or nil
local f = fifo_keys(KEYS, 6)
if g then redis.call('ZADD', f.groups, 0, group_member(g, ARGV[2])) end
if ARGV[3] == 'return' then
  redis.call('HSET', msgs, ARGV[2], raw)
  redis.call('ZADD', avail, now, ARGV[2])
  if g then refresh_group(f, avail, g, now) end
  if fk then fair_enter(fk, ARGV[2], rec[10] or '', fair_clock(fk, meta)) end
elseif ARGV[3] == 'deliver' then
  local vt = ARGV[4] ~= '' and ARGV[4] or cfg[1]
  local packed = mark_received(rec, now)
  redis.call('HSET', msgs, ARGV[2], packed)
  redis.call('ZADD', inflight, now + tonumber(vt or '30') * 1000, ARGV[2])
  if g then
    redis.call('HSET', f.ingroup, ARGV[2], g)
    refresh_group(f, avail, g, now)
  end
  if fk then
    redis.call('HSET', fk.tenant, ARGV[2], rec[10] or '')
    redis.call('HINCRBY', fk.tin, rec[10] or '', 1)
  end
  return packed
end
return 1
