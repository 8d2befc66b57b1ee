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
local n = #handles / 2
if n == 0 then return {} end
local ms = {}
for i = 1, n do ms[i] = handles[i * 2 - 1] end
local raws = redis.call('HMGET', msgs, unpack(ms))
local deadlines = redis.call('ZMSCORE', inflight, unpack(ms))
local owners = redis.call('HMGET', f.ingroup, unpack(ms))
local out, done, gone, members, groups, glist = {}, {}, {}, {}, {}, {}
for i = 1, n do
  local m, raw, deadline = ms[i], raws[i], deadlines[i]
  local status = 0
  if done[m] then
    status = 1
  elseif raw then
    if record_receive_count(raw) ~= handles[i * 2] or not deadline
        or tonumber(deadline) <= now then
      status = -1
    else
      done[m] = true
      gone[#gone + 1] = m
      local g = owners[i]
      if g then
        members[#members + 1] = group_member(g, m)
        if not groups[g] then
          groups[g] = true
          glist[#glist + 1] = g
        end
      end
      status = 1
    end
  end
  out[i] = status
end
if #gone > 0 then
  redis.call('HDEL', msgs, unpack(gone))
  redis.call('ZREM', inflight, unpack(gone))
  redis.call('HDEL', f.ingroup, unpack(gone))
  if #members > 0 then redis.call('ZREM', f.groups, unpack(members)) end
  refresh_groups(f, avail, glist, now)
end
return out
