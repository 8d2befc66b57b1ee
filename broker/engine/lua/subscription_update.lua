-- subscription_update: change a subscription (SetSubscriptionAttributes, and
-- ConfirmSubscription by token).
--   'set'      ARGV[3] = attribute name, ARGV[4] = value ('' removes it)
--   'confirm'  ARGV[3] = token: the subscription it names is confirmed
-- KEYS: meta, subs, index
-- ARGV: subscription_id ('' for confirm), op, then as above; last: max_filter_policies
-- Returns: the subscription id; 0 when there is none (or no such token); error
--          FilterPolicyLimitExceeded.
-- Touches: meta (policies), subs, index.
local meta, subs, index = KEYS[1], KEYS[2], KEYS[3]
local id = ARGV[1]
if ARGV[2] == 'confirm' then
  id = redis.call('HGET', index, 't:' .. ARGV[3])
  if not id then return 0 end
end
local raw = redis.call('HGET', subs, id)
if not raw then return 0 end
local sub = cmsgpack.unpack(raw)
if ARGV[2] == 'confirm' then
  sub.status = 'confirmed'
else
  local name, value = ARGV[3], ARGV[4]
  if name == 'FilterPolicy' then
    local had = sub.attributes.FilterPolicy and sub.attributes.FilterPolicy ~= ''
    local has = value ~= ''
    if has and not had then
      if tonumber(redis.call('HGET', meta, 'policies') or '0') >= tonumber(ARGV[5]) then
        return fail('FilterPolicyLimitExceeded', 'Filter policy limit exceeded')
      end
      redis.call('HINCRBY', meta, 'policies', 1)
    elseif had and not has then
      redis.call('HINCRBY', meta, 'policies', -1)
    end
  end
  if value == '' then sub.attributes[name] = nil else sub.attributes[name] = value end
end
redis.call('HSET', subs, id, cmsgpack.pack(sub))
return id
