-- subscribe: add a subscription to a topic, or find the one that exists for the same
-- protocol and endpoint (Subscribe).
-- KEYS: meta, subs, index, httpq
-- ARGV: subscription_id, protocol, endpoint, packed subscription (msgpack map),
--       has_filter_policy (0/1), max_filter_policies, token ('' none), now_ms|'',
--       send_confirmation (0/1: an HTTP/S subscription waiting to be confirmed: the
--       dispatcher sends the SubscriptionConfirmation)
-- Returns: {1, id} created; {0, id, packed} one exists for that endpoint (the caller
--          compares attributes); errors NotFound, FilterPolicyLimitExceeded.
-- Touches: meta (policies), subs, index, httpq.
local meta, subs, index = KEYS[1], KEYS[2], KEYS[3]
if redis.call('EXISTS', meta) == 0 then
  return fail('NotFound', 'Topic does not exist')
end
local ekey = 'e:' .. ARGV[2] .. ' ' .. ARGV[3]
local existing = redis.call('HGET', index, ekey)
if existing then
  return {0, existing, redis.call('HGET', subs, existing)}
end
if ARGV[5] == '1' then
  if tonumber(redis.call('HGET', meta, 'policies') or '0') >= tonumber(ARGV[6]) then
    return fail('FilterPolicyLimitExceeded', 'Filter policy limit exceeded')
  end
  redis.call('HINCRBY', meta, 'policies', 1)
end
redis.call('HSET', subs, ARGV[1], ARGV[4])
redis.call('HSET', index, ekey, ARGV[1])
if ARGV[7] ~= '' then redis.call('HSET', index, 't:' .. ARGV[7], ARGV[1]) end
if ARGV[9] == '1' then
  redis.call('ZADD', KEYS[4], now_ms(ARGV[8]), 'confirm ' .. ARGV[1])
end
return {1, ARGV[1]}
