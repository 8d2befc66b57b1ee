-- move_settle: finish moving messages a move task claimed (move_claim): 'ack' forgets
-- them (the destination stored them) and counts them moved; 'return' puts them back in
-- the dead-letter queue (the destination is gone).
-- flags: allow-oom
-- KEYS: meta, msgs, avail, moving, tasks, groups, ready, ingroup, waiters, fair, fairvt,
--       tenant, tenantin  (of the DLQ)
-- ARGV: now_ms|'', task_id, mode, wake_channel, owner, then the message numbers
-- Returns: the task's count of messages moved; -1 (nothing done) when the task is gone
--          or another runner owns it now (it adopted the task and the outbox with it).
-- Touches: msgs, avail, moving, tasks, groups, ready; publishes wake_channel on 'return'.
local meta, msgs, avail, moving, tasks = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local f = fifo_keys(KEYS, 6)
local now = now_ms(ARGV[1])
local cfg = redis.call('HMGET', meta, 'FifoQueue', 'x_fair')
local fifo = cfg[1] == 'true'
local fk = cfg[2] and fair_keys(KEYS, 10) or nil
local task_raw = redis.call('HGET', tasks, ARGV[2])
if not task_raw or cmsgpack.unpack(task_raw).owner ~= ARGV[5] then return -1 end
local done = 0
for i = 6, #ARGV do
  local m = ARGV[i]
  local raw = redis.call('HGET', moving, m)
  if raw then
    redis.call('HDEL', moving, m)
    done = done + 1
    if ARGV[3] == 'return' then
      redis.call('HSET', msgs, m, raw)
      redis.call('ZADD', avail, now, m)
      local rec10 = (fifo or fk) and cmsgpack.unpack(raw)[10]
      if fk then fair_enter(fk, m, rec10 or '', fair_clock(fk, meta)) end
      local g = fifo and rec10
      if g and g ~= '' then
        redis.call('ZADD', f.groups, 0, group_member(g, m))
        refresh_group(f, avail, g, now)
      end
    end
  end
end
if ARGV[3] == 'return' and done > 0 then wake(KEYS[9], ARGV[4], now) end
local raw = redis.call('HGET', tasks, ARGV[2])
if not raw then return 0 end
local task = cmsgpack.unpack(raw)
if ARGV[3] == 'ack' and done > 0 then
  task.moved = task.moved + done
  redis.call('HSET', tasks, ARGV[2], cmsgpack.pack(task))
end
return task.moved
