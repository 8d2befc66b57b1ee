-- tag: add/overwrite or remove a queue's or a topic's tags (TagQueue / UntagQueue,
-- TagResource / UntagResource).
-- KEYS: meta, tags
-- ARGV: op ('set' | 'del'), max_tags, missing error code, its message, too-many-tags
--       error code, its message, then for set (key, value) pairs, for del keys
-- Returns: 1, or the missing / too-many-tags error given.
-- Touches: tags.
local meta, tags = KEYS[1], KEYS[2]
if redis.call('EXISTS', meta) == 0 then return fail(ARGV[3], ARGV[4]) end
if ARGV[1] == 'del' then
  for i = 7, #ARGV do redis.call('HDEL', tags, ARGV[i]) end
  return 1
end
local adding = 0
for i = 7, #ARGV, 2 do
  if redis.call('HEXISTS', tags, ARGV[i]) == 0 then adding = adding + 1 end
end
if redis.call('HLEN', tags) + adding > tonumber(ARGV[2]) then return fail(ARGV[5], ARGV[6]) end
for i = 7, #ARGV, 2 do redis.call('HSET', tags, ARGV[i], ARGV[i + 1]) end
return 1
