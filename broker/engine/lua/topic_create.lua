-- topic_create: create a topic, or accept an existing one with the same attributes.
-- KEYS: meta
-- ARGV: now_ms|'', n_given, n_given x (name, value) as the caller gave them, then
--       (name, value) pairs for defaults and bookkeeping fields
-- Returns: 1 created, 0 already existed with the same given attributes; error
--          InvalidParameter when a given attribute differs.
-- Touches: meta.
local meta = KEYS[1]
local now = now_ms(ARGV[1])
local n_given = tonumber(ARGV[2])
if redis.call('EXISTS', meta) == 1 then
  for i = 0, n_given - 1 do
    local k, v = ARGV[3 + i * 2], ARGV[4 + i * 2]
    if (redis.call('HGET', meta, k) or '') ~= v then
      return fail('InvalidParameter', 'Invalid parameter: Attributes Reason: Topic ' ..
        'already exists with different attributes')
    end
  end
  return 0
end
for i = 3, #ARGV, 2 do
  if ARGV[i + 1] ~= '' then redis.call('HSET', meta, ARGV[i], ARGV[i + 1]) end
end
redis.call('HSET', meta, 'created_ms', now, 'seq', 0, 'policies', 0)
return 1
