-- tag_queue: add/overwrite or remove a queue's tags (TagQueue / UntagQueue).
-- KEYS: meta, tags
-- ARGV: op ('set' | 'del'), max_tags, then for set (key, value) pairs, for del keys
-- Returns: 1, or error QueueDoesNotExist / InvalidParameterValue (too many tags).
-- Touches: tags.
local meta, tags = KEYS[1], KEYS[2]
if redis.call('EXISTS', meta) == 0 then return fail('QueueDoesNotExist', NO_QUEUE) end
if ARGV[1] == 'del' then
  for i = 3, #ARGV do redis.call('HDEL', tags, ARGV[i]) end
  return 1
end
local adding = 0
for i = 3, #ARGV, 2 do
  if redis.call('HEXISTS', tags, ARGV[i]) == 0 then adding = adding + 1 end
end
if redis.call('HLEN', tags) + adding > tonumber(ARGV[2]) then
  return fail('InvalidParameterValue', 'Too many tags: a queue can hold at most ' ..
    ARGV[2] .. ' tags.')
end
for i = 3, #ARGV, 2 do redis.call('HSET', tags, ARGV[i], ARGV[i + 1]) end
return 1
