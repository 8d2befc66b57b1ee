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
--   'D', id .. number             a duplicate within the deduplication interval: not
--                                 stored; the original's id (16 raw bytes) and message
--                                 number
--   'B', ''                       larger than MaximumMessageSize: not stored
--   'N', ''                       no deduplication id and no content-based deduplication
-- Dedup entries live in dedup (key -> id .. number) and dedup_exp (key -> expiry
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
local n = #batch / 8
-- Deduplication keys, looked up at once; codes per entry ('B', 'N', 'D' or '' = store).
local dkeys, codes = {}, {}
for i = 0, n - 1 do
  local b = i * 8
  local dedup_id = batch[b + 7]
  if dedup_id == '' and content_dedup then dedup_id = batch[b + 8] end
  if batch[b + 4] > maxsize then
    codes[i + 1] = 'B'
  elseif dedup_id == '' then
    codes[i + 1] = 'N'
  else
    codes[i + 1] = ''
    batch[b + 7] = dedup_id
    dkeys[i + 1] = per_group and (batch[b + 6] .. '\0' .. dedup_id) or dedup_id
  end
end
local lookup, which = {}, {}
for i = 1, n do
  if dkeys[i] then
    lookup[#lookup + 1] = dkeys[i]
    which[#which + 1] = i
  end
end
local seen = {}      -- dedup key -> id .. number of the message it names
if #lookup > 0 then
  local found = redis.call('HMGET', dedup, unpack(lookup))
  for j, v in ipairs(found) do
    if v then
      -- an entry past its interval but not yet forgotten does not count
      local exp = redis.call('ZSCORE', dedup_exp, lookup[j])
      if tonumber(exp or '0') > now then seen[lookup[j]] = v end
    end
  end
end
local fresh = 0
for i = 1, n do
  if codes[i] == '' and not seen[dkeys[i]] then
    fresh = fresh + 1
    seen[dkeys[i]] = true   -- a later entry of this batch with the same key is a duplicate
  end
end
local seq = fresh > 0 and redis.call('HINCRBY', meta, 'seq', fresh) - fresh or 0
local out = {now, maxsize}
local records, scores, members, dvals, dexps, touched, tlist = {}, {}, {}, {}, {}, {}, {}
for i = 1, n do
  local b = (i - 1) * 8
  local code, dkey = codes[i], dkeys[i]
  if code ~= '' then
    out[#out + 1] = code
    out[#out + 1] = ''
  elseif seen[dkey] ~= true then
    out[#out + 1] = 'D'
    out[#out + 1] = seen[dkey]
  else
    seq = seq + 1
    local m = member(seq)
    local group = batch[b + 6]
    local packed_id = batch[b + 1] .. m
    seen[dkey] = packed_id   -- later duplicates in this batch answer with this message
    records[#records + 1] = m
    records[#records + 1] = cmsgpack.pack({batch[b + 1], batch[b + 2], now, 0, 0,
      batch[b + 3], 0, '', batch[b + 5], group, batch[b + 7]})
    scores[#scores + 1] = visible_at
    scores[#scores + 1] = m
    members[#members + 1] = 0
    members[#members + 1] = group_member(group, m)
    dvals[#dvals + 1] = dkey
    dvals[#dvals + 1] = packed_id
    dexps[#dexps + 1] = now + interval
    dexps[#dexps + 1] = dkey
    if not touched[group] then
      touched[group] = true
      tlist[#tlist + 1] = group
    end
    out[#out + 1] = m
    out[#out + 1] = ''
  end
end
if fresh > 0 then
  redis.call('HSET', msgs, unpack(records))
  redis.call('ZADD', avail, unpack(scores))
  redis.call('ZADD', f.groups, unpack(members))
  redis.call('HSET', dedup, unpack(dvals))
  redis.call('ZADD', dedup_exp, unpack(dexps))
  -- A group already in `ready` stays as it is (its first message did not change).
  local in_ready = redis.call('ZMSCORE', f.ready, unpack(tlist))
  local others = {}
  for i, g in ipairs(tlist) do
    if not in_ready[i] then others[#others + 1] = g end
  end
  refresh_groups(f, avail, others, now)
  if visible_at <= now then wake(waiters, ARGV[2], now) end
end
return out
