-- send: store up to 10 messages in a queue (SendMessage / SendMessageBatch).
-- KEYS: meta, msgs, avail, inflight, waiters
-- ARGV: now_ms|'', wake_channel, n, then n x (id, body, delay_s|'' (queue default),
--       extra, size_bytes)
-- Returns: {now_ms, max_message_size, seq_1..seq_n}; seq 0 = that entry exceeded
--          MaximumMessageSize and was not stored.
-- Touches: meta (seq, cur), msgs, avail; publishes wake_channel.
local meta, msgs, avail, inflight, waiters = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local cfg = redis.call('HMGET', meta, 'DelaySeconds', 'MaximumMessageSize',
  'MessageRetentionPeriod')
if not cfg[1] then return fail('QueueDoesNotExist', NO_QUEUE) end
local now = now_ms(ARGV[1])
local maxsize = tonumber(cfg[2])
sweep(meta, msgs, avail, inflight, now, tonumber(cfg[3]) * 1000, 20)
local n = tonumber(ARGV[3])
local out = {now, maxsize}
local visible_now = false
for i = 0, n - 1 do
  local b = 4 + i * 5
  if tonumber(ARGV[b + 4]) > maxsize then
    out[#out + 1] = 0
  else
    local delay = tonumber(ARGV[b + 2] ~= '' and ARGV[b + 2] or cfg[1])
    local seq = member(redis.call('HINCRBY', meta, 'seq', 1))
    redis.call('HSET', msgs, seq, cmsgpack.pack({ARGV[b], ARGV[b + 1], now, 0, 0, ARGV[b + 3], 0, ''}))
    redis.call('ZADD', avail, now + delay * 1000, seq)
    if delay == 0 then visible_now = true end
    out[#out + 1] = seq
  end
end
if visible_now then wake(waiters, ARGV[2], now) end
return out
