-- set_attributes: change a queue's or a topic's settable attributes
-- (SetQueueAttributes, SetTopicAttributes).
-- KEYS: meta
-- ARGV: now_ms|'', missing error code, its message, then (name, value) pairs; an empty
--       value removes the attribute
-- Returns: 1, or the missing error given.
-- Touches: meta.
local meta = KEYS[1]
if redis.call('EXISTS', meta) == 0 then return fail(ARGV[2], ARGV[3]) end
local now = now_ms(ARGV[1])
for i = 4, #ARGV, 2 do
  if ARGV[i + 1] == '' then
    redis.call('HDEL', meta, ARGV[i])
  else
    redis.call('HSET', meta, ARGV[i], ARGV[i + 1])
  end
end
redis.call('HSET', meta, 'modified_ms', now)
return 1
