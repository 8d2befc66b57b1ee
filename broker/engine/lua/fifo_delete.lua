-- fifo_delete: delete up to 10 messages of a FIFO queue by receipt (DeleteMessage /
-- DeleteMessageBatch). Unlike a standard queue, a handle is only good while its
-- message is in flight under it.
-- flags: allow-oom
-- KEYS: meta, msgs, avail, inflight, groups, ready, ingroup
-- ARGV: now_ms|'', handles: one msgpack array (packed by Python without the bin types)
--       of seq, receive_count, seq, receive_count, ...
-- Returns: {status_1..status_n}: 1 deleted; 0 nothing to do (already deleted); -1 the
--          handle has expired (its visibility timeout ran out, or the message was
--          received again since).
-- Touches: msgs, inflight, groups, ready, ingroup.
local meta, msgs, avail, inflight = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local f = fifo_keys(KEYS, 5)
if redis.call('EXISTS', meta) == 0 then return fail('QueueDoesNotExist', NO_QUEUE) end
local now = now_ms(ARGV[1])
local handles = cmsgpack.unpack(ARGV[2])
local out, done = {}, {}
for i = 1, #handles / 2 do
  local m, rc = handles[i * 2 - 1], handles[i * 2]
  local raw = redis.call('HGET', msgs, m)
  local status = 0
  if done[m] then
    status = 1
  elseif raw then
    local deadline = redis.call('ZSCORE', inflight, m)
    if record_receive_count(raw) ~= rc or not deadline or tonumber(deadline) <= now then
      status = -1
    else
      local g = redis.call('HGET', f.ingroup, m)
      redis.call('HDEL', msgs, m)
      redis.call('ZREM', inflight, m)
      if g then leave_group(f, avail, m, g, now) end
      done[m] = true
      status = 1
    end
  end
  out[i] = status
end
return out
