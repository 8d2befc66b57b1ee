-- create_queue: create a queue, or accept an existing one with identical attributes.
-- KEYS: meta
-- ARGV: now_ms|'', n_given, then n_given x (name, value) as the caller gave them,
--       then (name, value) pairs for defaults and bookkeeping fields
-- Returns: 1 created, 0 already existed with the same given attributes; error
--          QueueNameExists when a given attribute differs.
-- Touches: meta.
local meta = KEYS[1]
local now = now_ms(ARGV[1])
local n_given = tonumber(ARGV[2])
if redis.call('EXISTS', meta) == 1 then
  for i = 0, n_given - 1 do
    local k, v = ARGV[3 + i * 2], ARGV[4 + i * 2]
    local cur = redis.call('HGET', meta, k)
    if (cur or '') ~= v then
      return fail('QueueNameExists', 'A queue already exists with the same name and a ' ..
        'different value for attribute ' .. k)
    end
  end
  return 0
end
for i = 3, #ARGV, 2 do
  if ARGV[i + 1] ~= '' then redis.call('HSET', meta, ARGV[i], ARGV[i + 1]) end
end
redis.call('HSET', meta, 'created_ms', now, 'modified_ms', now, 'seq', 0, 'cur', 1)
return 1
