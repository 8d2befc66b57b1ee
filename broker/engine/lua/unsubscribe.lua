-- unsubscribe: remove a subscription (Unsubscribe).
-- KEYS: meta, subs, index
-- ARGV: subscription_id
-- Returns: 1 removed, 0 no such subscription.
-- Touches: meta (policies), subs, index.
local meta, subs, index = KEYS[1], KEYS[2], KEYS[3]
local raw = redis.call('HGET', subs, ARGV[1])
if not raw then return 0 end
local sub = cmsgpack.unpack(raw)
redis.call('HDEL', subs, ARGV[1])
redis.call('HDEL', index, 'e:' .. sub.protocol .. ' ' .. sub.endpoint)
if sub.token and sub.token ~= '' then redis.call('HDEL', index, 't:' .. sub.token) end
if sub.attributes.FilterPolicy and sub.attributes.FilterPolicy ~= '' then
  redis.call('HINCRBY', meta, 'policies', -1)
end
return 1
