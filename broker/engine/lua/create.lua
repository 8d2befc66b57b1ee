-- create: create a queue or a topic (CreateQueue / CreateTopic), or accept an existing
-- one whose given attributes are the same.
-- KEYS: meta
-- ARGV: now_ms|'', error code, error message (for an existing one with other
--       attributes), n_given, n_given x (name, value) as the caller gave them, then
--       (name, value) pairs for defaults and bookkeeping fields ('' values are skipped)
-- Returns: 1 created, 0 already existed with the same given attributes; the error given
--          when a given attribute differs.
-- Touches: meta (and its created_ms / modified_ms).
local meta = KEYS[1]
local now = now_ms(ARGV[1])
local n_given = tonumber(ARGV[4])
if redis.call('EXISTS', meta) == 1 then
  for i = 0, n_given - 1 do
    local k, v = ARGV[5 + i * 2], ARGV[6 + i * 2]
    if (redis.call('HGET', meta, k) or '') ~= v then
      return fail(ARGV[2], ARGV[3] .. k)
    end
  end
  return 0
end
for i = 5, #ARGV, 2 do
  if ARGV[i + 1] ~= '' then redis.call('HSET', meta, ARGV[i], ARGV[i + 1]) end
end
redis.call('HSET', meta, 'created_ms', now, 'modified_ms', now)
return 1
