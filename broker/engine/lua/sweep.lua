-- sweep: drop messages older than the queue's retention period (housekeeping for queues
-- that nobody sends to or receives from, where send/receive would otherwise do it).
-- KEYS: meta, msgs, avail, inflight, groups, ready, ingroup (FIFO queues), fair, fairvt,
--       tenant, tenantin (fair queues)
-- ARGV: now_ms|'', limit (most messages to examine)
-- Returns: how many message numbers the sweep advanced past (limit: call again).
-- Touches: meta (cur), msgs, avail, inflight; groups, ready, ingroup.
local meta, msgs, avail, inflight = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local cfg = redis.call('HMGET', meta, 'MessageRetentionPeriod', 'FifoQueue', 'x_fair')
local retention = cfg[1]
if not retention then return fail('QueueDoesNotExist', NO_QUEUE) end
local before = tonumber(redis.call('HGET', meta, 'cur') or '1')
sweep(meta, msgs, avail, inflight, now_ms(ARGV[1]), tonumber(retention) * 1000,
  tonumber(ARGV[2]), cfg[2] == 'true' and fifo_keys(KEYS, 5) or nil,
  cfg[3] and fair_keys(KEYS, 8) or nil)
return tonumber(redis.call('HGET', meta, 'cur') or '1') - before
