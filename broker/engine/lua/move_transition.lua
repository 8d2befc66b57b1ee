-- move_transition: change a move task's state.
--   'cancel'  RUNNING -> CANCELLING (CancelMessageMoveTask); returns the count moved;
--             error ResourceNotFoundException when the task is not running.
--   'finish'  -> arg1 (COMPLETED | CANCELLED | FAILED), failure reason arg2; the queue no
--             longer has an active task. Returns 1.
--   'adopt'   a RUNNING or CANCELLING task whose lease ran out (its runner died) gets
--             owner arg1 and a lease of arg2 ms. Returns 1 adopted, 0 not.
-- KEYS: meta, tasks      (of the dead-letter queue)
-- ARGV: now_ms|'', task_id, op, arg1, arg2
-- Touches: meta (x_move_task), tasks.
local meta, tasks = KEYS[1], KEYS[2]
local raw = redis.call('HGET', tasks, ARGV[2])
if not raw then
  if ARGV[3] == 'cancel' then return fail('ResourceNotFoundException', 'Task does not exist.') end
  return 0
end
local task = cmsgpack.unpack(raw)
local now = now_ms(ARGV[1])
local active = task.status == 'RUNNING' or task.status == 'CANCELLING'
if ARGV[3] == 'cancel' then
  if task.status ~= 'RUNNING' then
    return fail('ResourceNotFoundException', 'Task does not exist.')
  end
  task.status = 'CANCELLING'
elseif ARGV[3] == 'finish' then
  task.status = ARGV[4]
  task.failure = ARGV[5]
  if redis.call('HGET', meta, 'x_move_task') == ARGV[2] then
    redis.call('HDEL', meta, 'x_move_task')
  end
elseif ARGV[3] == 'adopt' then
  if not active or task.lease_ms > now then return 0 end
  task.owner = ARGV[4]
  task.lease_ms = now + tonumber(ARGV[5])
end
redis.call('HSET', tasks, ARGV[2], cmsgpack.pack(task))
if ARGV[3] == 'cancel' then return task.moved end
return 1
