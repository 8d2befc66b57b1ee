-- publish: record a published message in the topic's outbox, with the subscriptions it
-- goes to, before any delivery (Publish / PublishBatch); FIFO topics deduplicate and
-- number their messages here.
-- KEYS: meta, outbox, outq, dedup, dedupexp
-- ARGV: now_ms|'', then per message 4 values: message id, packed outbox entry (msgpack
--       map; '' = nothing to deliver), deduplication key ('' = not deduplicated),
--       deduplication interval ms
-- Returns: {now_ms, then per message 2 values}: '' and the sequence number ('' on a
--          standard topic) when recorded; 'D' and "<message id> <sequence number>" of
--          the original when it is a duplicate within the interval.
-- Touches: meta (seq), outbox, outq, dedup, dedupexp.
local meta, outbox, outq, dedup, dedupexp = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local cfg = redis.call('HMGET', meta, 'created_ms', 'FifoTopic')
if not cfg[1] then return fail('NotFound', 'Topic does not exist') end
local now = now_ms(ARGV[1])
local fifo = cfg[2] == 'true'
local old = redis.call('ZRANGEBYSCORE', dedupexp, '-inf', now, 'LIMIT', 0, 50)
if #old > 0 then
  redis.call('HDEL', dedup, unpack(old))
  redis.call('ZREM', dedupexp, unpack(old))
end
local out = {now}
for i = 2, #ARGV, 4 do
  local id, entry, dkey = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local seen = dkey ~= '' and redis.call('HGET', dedup, dkey)
  if seen and tonumber(redis.call('ZSCORE', dedupexp, dkey) or '0') <= now then
    seen = false
  end
  if seen then
    out[#out + 1] = 'D'
    out[#out + 1] = seen
  else
    local seq = ''
    if fifo then seq = string.format('%020d', redis.call('HINCRBY', meta, 'seq', 1)) end
    if dkey ~= '' then
      redis.call('HSET', dedup, dkey, id .. ' ' .. seq)
      redis.call('ZADD', dedupexp, now + tonumber(ARGV[i + 3]), dkey)
    end
    if entry ~= '' then
      redis.call('HSET', outbox, id, entry)
      redis.call('ZADD', outq, now, id)
    end
    out[#out + 1] = ''
    out[#out + 1] = seq
  end
end
return out
