-- move_start: start a message move task on a dead-letter queue (StartMessageMoveTask).
-- KEYS: meta, avail, tasks, order, inflight      (of the dead-letter queue)
-- ARGV: now_ms|'', task_id, packed task (msgpack map: source, destination, rate, owner),
--       lease_ms, tasks kept (the most recent)
-- Tasks live in tasks (task id -> msgpack map with status, source, destination, rate,
-- moved, to_move, started_ms, failure, owner, lease_ms) and order (task id -> start
-- order); meta's x_move_task names the active one.
-- Returns: the number of messages to move (visible messages now, as
--          ApproximateNumberOfMessages counts them); error
--          QueueDoesNotExist, or InvalidParameterValue when a task is already active.
-- Touches: meta (x_move_task), tasks, order.
local meta, avail, tasks, order = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if redis.call('EXISTS', meta) == 0 then return fail('QueueDoesNotExist', NO_QUEUE) end
local now = now_ms(ARGV[1])
local active = redis.call('HGET', meta, 'x_move_task')
if active then
  local raw = redis.call('HGET', tasks, active)
  local st = raw and cmsgpack.unpack(raw)
  if st and (st.status == 'RUNNING' or st.status == 'CANCELLING') then
    return fail('InvalidParameterValue', 'There is already a task running. Only one ' ..
      'active task is allowed for a source queue arn at a given time.')
  end
end
local task = cmsgpack.unpack(ARGV[3])
task.status = 'RUNNING'
task.moved = 0
task.to_move = redis.call('ZCOUNT', avail, '-inf', now) +
  redis.call('ZCOUNT', KEYS[5], '-inf', now)
task.started_ms = now
task.failure = ''
task.lease_ms = now + tonumber(ARGV[4])
redis.call('HSET', tasks, ARGV[2], cmsgpack.pack(task))
-- ordered by start, ties (a virtual clock, the same ms) broken by arrival
local top = redis.call('ZRANGE', order, -1, -1, 'WITHSCORES')
local rank = now
if top[2] and tonumber(top[2]) >= rank then rank = tonumber(top[2]) + 1 end
redis.call('ZADD', order, rank, ARGV[2])
redis.call('HSET', meta, 'x_move_task', ARGV[2])
local keep = tonumber(ARGV[5])
local extra = redis.call('ZCARD', order) - keep
if extra > 0 then
  local old = redis.call('ZRANGE', order, 0, extra - 1)
  redis.call('ZREM', order, unpack(old))
  redis.call('HDEL', tasks, unpack(old))
end
return task.to_move
