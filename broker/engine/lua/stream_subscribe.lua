-- stream_subscribe: take (or renew) a consumer's subscription to one shard
-- (SubscribeToShard). A subscription lives 5 minutes; another one for the same consumer
-- and shard within 5 seconds of it starting is refused, later it takes over.
-- KEYS: sub  (the shard's subscription key of the consumer)
-- ARGV: now_ms|'', token, lifetime_ms, min_gap_ms, 'take' | 'check'
-- Returns: 1 held (taken, or still ours on 'check'); 0 refused (in use, or taken over).
-- Touches: sub.
local cur = redis.call('GET', KEYS[1])
local now = now_ms(ARGV[1])
if ARGV[5] == 'check' then
  if cur and string.sub(cur, 1, #ARGV[2] + 1) == ARGV[2] .. ' ' then return 1 end
  return 0
end
if cur then
  local started = tonumber(string.match(cur, ' (%d+)$'))
  if started and now - started < tonumber(ARGV[4]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2] .. ' ' .. now, 'PX', tonumber(ARGV[3]))
return 1
