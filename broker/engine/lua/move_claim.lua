-- move_claim: take the next messages a move task moves out of a dead-letter queue, into
-- the queue's `moving` hash (an outbox: they stay there until move_settle), renewing the
-- task's lease. Messages left in `moving` by a runner that died are handed out again
-- first (their move is idempotent on the destination).
-- flags: allow-oom
-- KEYS: meta, msgs, avail, moving, tasks, groups, ready, ingroup, inflight, fair, fairvt,
--       tenant, tenantin   (of the DLQ)
-- ARGV: now_ms|'', task_id, owner, max_messages, lease_ms
-- Returns: {status, {seq, record, ...}}: status RUNNING with the messages to move (none:
--          the queue is drained); CANCELLING with what is left in `moving` (the runner
--          finishes those, then the task); COMPLETED / ... as stored; LOST when another
--          runner owns the task; GONE when the task or the queue is gone.
-- Touches: msgs, avail, inflight, moving, tasks, groups, ready, ingroup.
local meta, msgs, avail, moving, tasks = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local f = fifo_keys(KEYS, 6)
local cfg = redis.call('HMGET', meta, 'VisibilityTimeout', 'FifoQueue', 'x_fair')
local raw = redis.call('HGET', tasks, ARGV[2])
if not cfg[1] or not raw then return {'GONE', {}} end
local task = cmsgpack.unpack(raw)
if task.owner ~= ARGV[3] then return {'LOST', {}} end
local active = task.status == 'RUNNING' or task.status == 'CANCELLING'
if not active then return {task.status, {}} end
local now = now_ms(ARGV[1])
task.lease_ms = now + tonumber(ARGV[5])
redis.call('HSET', tasks, ARGV[2], cmsgpack.pack(task))
local max = tonumber(ARGV[4])
-- what a dead runner left half-moved is finished first, even by a cancelled task
if redis.call('HLEN', moving) > 0 then
  return {task.status, redis.call('HRANDFIELD', moving, max, 'WITHVALUES')}
end
if task.status ~= 'RUNNING' then return {task.status, {}} end
-- In-flight messages whose visibility timeout ran out are movable again.
release_expired(meta, avail, KEYS[9], now, f, cfg[3] and fair_keys(KEYS, 10) or nil)
local out = {}
local cand = redis.call('ZRANGEBYSCORE', avail, '-inf', now, 'LIMIT', 0, max)
for _, m in ipairs(cand) do
  local rec_raw = redis.call('HGET', msgs, m)
  redis.call('ZREM', avail, m)
  if rec_raw then
    redis.call('HDEL', msgs, m)
    redis.call('HSET', moving, m, rec_raw)
    if cfg[2] == 'true' then
      local g = cmsgpack.unpack(rec_raw)[10]
      if g and g ~= '' then leave_group(f, avail, m, g, now) end
    end
    out[#out + 1] = m
    out[#out + 1] = rec_raw
  end
end
if cfg[3] and #out > 0 then
  local claimed = {}
  for i = 1, #out, 2 do claimed[#claimed + 1] = out[i] end
  fair_forget(fair_keys(KEYS, 10), claimed, {})
end
return {'RUNNING', out}
