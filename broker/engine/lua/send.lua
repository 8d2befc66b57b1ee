-- send: store up to 10 messages in a queue (SendMessage / SendMessageBatch).
-- KEYS: meta, msgs, avail, inflight, waiters, fair, fairvt, tenant, tenantin
-- ARGV: now_ms|'', wake_channel, batch: one msgpack array (packed by Python without the
--       bin types) of 7 values per message: id (16 raw bytes), body, delay_s (-1: the
--       queue's DelaySeconds), extra, size_bytes, body_md5 (16 raw bytes), message
--       group id ('' none: fair queues' tenant key)
-- Returns: {now_ms, max_message_size, seq_1..seq_n}; seq 0 = that entry exceeded
--          MaximumMessageSize and was not stored.
-- The first message with a group id makes the queue fair (x_fair): from then on every
-- message is filed for fair receiving (see _prelude.lua).
-- Touches: meta (seq, cur, x_fair), msgs, avail, fair, fairvt, tenant; publishes
-- wake_channel.
local meta, msgs, avail, inflight, waiters = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local cfg = redis.call('HMGET', meta, 'DelaySeconds', 'MaximumMessageSize',
  'MessageRetentionPeriod', 'x_fair')
if not cfg[1] then return fail('QueueDoesNotExist', NO_QUEUE) end
local now = now_ms(ARGV[1])
local maxsize = tonumber(cfg[2])
local fk = fair_keys(KEYS, 6)
local fair = cfg[4] ~= false
sweep(meta, msgs, avail, inflight, now, tonumber(cfg[3]) * 1000, 20, nil, fair and fk or nil)
local batch = cmsgpack.unpack(ARGV[3])
local n = #batch / 7
local stored = 0
for b = 5, #batch, 7 do
  if batch[b] <= maxsize then stored = stored + 1 end
end
-- Message numbers for the stored entries, in batch order (one HINCRBY for all).
local seq = stored > 0 and redis.call('HINCRBY', meta, 'seq', stored) - stored or 0
local out = {now, maxsize}
local records, scores = {}, {}
local clock = nil   -- the fair queue's virtual clock, read once per batch
local visible_now = false
local default_delay = tonumber(cfg[1])
for i = 0, n - 1 do
  local b = i * 7
  if batch[b + 5] > maxsize then
    out[#out + 1] = 0
  else
    local delay = batch[b + 3]
    if delay < 0 then delay = default_delay end
    seq = seq + 1
    local m = member(seq)
    records[#records + 1] = m
    local rec = {batch[b + 1], batch[b + 2], now, 0, 0, batch[b + 4], 0, '', batch[b + 6]}
    local tenant = batch[b + 7]
    if tenant ~= '' then
      rec[10] = tenant
      if not fair then
        fair = true
        redis.call('HSET', meta, 'x_fair', 1)
      end
    end
    if fair then
      clock = clock or fair_clock(fk, meta)
      fair_enter(fk, m, tenant, clock)
    end
    records[#records + 1] = cmsgpack.pack(rec)
    scores[#scores + 1] = now + delay * 1000
    scores[#scores + 1] = m
    if delay == 0 then visible_now = true end
    out[#out + 1] = m
  end
end
if stored > 0 then
  redis.call('HSET', msgs, unpack(records))
  redis.call('ZADD', avail, unpack(scores))
end
if visible_now then wake(waiters, ARGV[2], now) end
return out
