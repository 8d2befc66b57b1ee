-- fifo_send: store up to 10 messages in a FIFO queue (SendMessage / SendMessageBatch),
-- with deduplication and per-group order.
-- KEYS: meta, msgs, avail, inflight, waiters, groups, ready, ingroup, dedup, dedup_exp
-- ARGV: now_ms|'', wake_channel, batch: one msgpack array (packed by Python without the
--       bin types) of 8 values per message: id (16 raw bytes), body, extra, size_bytes,
--       body_md5 (16 raw bytes), group id, deduplication id ('' none), content
--       deduplication id (SHA-256 of the body, used when the queue has
--       ContentBasedDeduplication and no deduplication id was given);
--       deduplication interval ms
-- Returns: {now_ms, max_message_size, then 2 values per message}:
--   message number, ''            stored
--   'D', packed {id, number}      a duplicate within the deduplication interval: not
--                                 stored; the original's id and message number
--   'B', ''                       larger than MaximumMessageSize: not stored
--   'N', ''                       no deduplication id and no content-based deduplication
-- Dedup entries live in dedup (key -> packed {id, number}) and dedup_exp (key -> expiry
-- ms); a key is "<group>\0<dedup id>" under DeduplicationScope messageGroup, else the id.
-- Touches: meta (seq, cur), msgs, avail, groups, ready, dedup, dedup_exp; publishes
-- wake_channel.
local meta, msgs, avail, inflight, waiters = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local f = fifo_keys(KEYS, 6)
local dedup, dedup_exp = KEYS[9], KEYS[10]
local cfg = redis.call('HMGET', meta, 'DelaySeconds', 'MaximumMessageSize',
  'MessageRetentionPeriod', 'ContentBasedDeduplication', 'DeduplicationScope')
if not cfg[1] then return fail('QueueDoesNotExist', NO_QUEUE) end
local now = now_ms(ARGV[1])
local maxsize = tonumber(cfg[2])
local content_dedup = cfg[4] == 'true'
local per_group = cfg[5] == 'messageGroup'
local interval = tonumber(ARGV[4])
sweep(meta, msgs, avail, inflight, now, tonumber(cfg[3]) * 1000, 20, f)
-- Forget deduplication ids whose interval ended (bounded per call).
local old = redis.call('ZRANGEBYSCORE', dedup_exp, '-inf', now, 'LIMIT', 0, 50)
if #old > 0 then
  redis.call('HDEL', dedup, unpack(old))
  redis.call('ZREM', dedup_exp, unpack(old))
end
local batch = cmsgpack.unpack(ARGV[3])
local visible_at = now + tonumber(cfg[1]) * 1000
local out = {now, maxsize}
local touched = {}
local stored = false
for b = 0, #batch - 1, 8 do
  local group, dedup_id = batch[b + 6], batch[b + 7]
  if dedup_id == '' and content_dedup then dedup_id = batch[b + 8] end
  if batch[b + 4] > maxsize then
    out[#out + 1] = 'B'
    out[#out + 1] = ''
  elseif dedup_id == '' then
    out[#out + 1] = 'N'
    out[#out + 1] = ''
  else
    local dkey = per_group and (group .. '\0' .. dedup_id) or dedup_id
    local seen = redis.call('HGET', dedup, dkey)
    if seen and tonumber(redis.call('ZSCORE', dedup_exp, dkey) or '0') <= now then
      seen = nil   -- expired, not yet forgotten (forgetting is bounded per call)
    end
    if seen then
      out[#out + 1] = 'D'
      out[#out + 1] = seen
    else
      local m = member(redis.call('HINCRBY', meta, 'seq', 1))
      redis.call('HSET', msgs, m, cmsgpack.pack({batch[b + 1], batch[b + 2], now, 0, 0,
        batch[b + 3], 0, '', batch[b + 5], group, dedup_id}))
      redis.call('ZADD', avail, visible_at, m)
      redis.call('ZADD', f.groups, 0, group_member(group, m))
      redis.call('HSET', dedup, dkey, cmsgpack.pack({batch[b + 1], m}))
      redis.call('ZADD', dedup_exp, now + interval, dkey)
      touched[group] = true
      stored = true
      out[#out + 1] = m
      out[#out + 1] = ''
    end
  end
end
for g in pairs(touched) do refresh_group(f, avail, g, now) end
if stored and visible_at <= now then wake(waiters, ARGV[2], now) end
return out
