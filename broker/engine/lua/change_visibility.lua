-- change_visibility: set the visibility timeout of up to 10 in-flight messages, counted
-- from now (ChangeMessageVisibility / ...Batch).
-- flags: allow-oom
-- KEYS: meta, msgs, avail, inflight, waiters, groups, ready, ingroup (FIFO queues,
--       whose group a freed message may unblock), fair, fairvt, tenant, tenantin (fair
--       queues)
-- ARGV: now_ms|'', wake_channel, n, then n x (seq, receive_count, visibility_timeout_s)
-- Returns: {status_1..status_n}: 1 changed; 0 no-op (the handle's visibility already
--          expired and nobody received the message since); -1 the message was deleted
--          or received again (the handle is stale); -2 the total visibility since the
--          receive would exceed 12 hours.
-- Touches: avail, inflight, ready, ingroup, fair, tenantin; publishes wake_channel when a timeout of 0 frees a message.
local meta, msgs, avail, inflight, waiters = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local f = fifo_keys(KEYS, 6)
local fk = fair_keys(KEYS, 9)
local cfg = redis.call('HMGET', meta, 'VisibilityTimeout', 'x_fair')
if not cfg[1] then return fail('QueueDoesNotExist', NO_QUEUE) end
local now = now_ms(ARGV[1])
local out = {}
local freed = false
for i = 0, tonumber(ARGV[3]) - 1 do
  local b = 4 + i * 3
  local seq, rc, vt_ms = ARGV[b], tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]) * 1000
  local raw = redis.call('HGET', msgs, seq)
  local status
  local rec = raw and cmsgpack.unpack(raw)
  if not rec or rec[4] ~= rc then
    status = -1
  else
    local deadline = redis.call('ZSCORE', inflight, seq)
    if not deadline or tonumber(deadline) <= now then
      status = 0
    elseif now + vt_ms - rec[7] > 43200000 then
      status = -2
    elseif vt_ms == 0 then
      redis.call('ZREM', inflight, seq)
      redis.call('ZADD', avail, now, seq)
      if cfg[2] then fair_release(fk, meta, seq) end
      local g = redis.call('HGET', f.ingroup, seq)
      if g then
        redis.call('HDEL', f.ingroup, seq)
        refresh_group(f, avail, g, now)
      end
      freed = true
      status = 1
    else
      redis.call('ZADD', inflight, now + vt_ms, seq)
      status = 1
    end
  end
  out[#out + 1] = status
end
if freed then wake(waiters, ARGV[2], now) end
return out
