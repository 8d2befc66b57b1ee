-- purge: delete every message of a queue, at most once per 60 s (PurgeQueue).
-- flags: allow-oom
-- KEYS: meta, msgs, avail, inflight, groups, ready, ingroup, fair, tenant, tenantin,
--       fairvt
-- ARGV: now_ms|'', min_interval_ms
-- Returns: 1, or error PurgeQueueInProgress.
-- Touches: meta (purged_ms, cur, x_fair_vt), msgs, avail, inflight, groups, ready, ingroup (UNLINK: freed in background).
local meta = KEYS[1]
local last = redis.call('HMGET', meta, 'purged_ms', 'seq', 'VisibilityTimeout')
if not last[3] then return fail('QueueDoesNotExist', NO_QUEUE) end
local now = now_ms(ARGV[1])
if last[1] and now - tonumber(last[1]) < tonumber(ARGV[2]) then
  return fail('PurgeQueueInProgress', 'Only one PurgeQueue operation on the queue is ' ..
    'allowed every 60 seconds.')
end
redis.call('UNLINK', unpack(KEYS, 2))
redis.call('HSET', meta, 'purged_ms', now, 'cur', tonumber(last[2] or '0') + 1)
redis.call('HDEL', meta, 'x_fair_vt')
return 1
