-- delete: delete up to 10 messages by receipt (DeleteMessage / DeleteMessageBatch).
-- flags: allow-oom
-- KEYS: meta, msgs, avail, inflight
-- ARGV: n, then n x (seq, receive_count)
-- Returns: {status_1..status_n}: 1 deleted; 0 nothing to do (already gone, or the
--          handle is stale because the message was received again since: fenced).
-- Touches: msgs, avail, inflight.
local meta, msgs, avail, inflight = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if redis.call('EXISTS', meta) == 0 then return fail('QueueDoesNotExist', NO_QUEUE) end
local out = {}
for i = 0, tonumber(ARGV[1]) - 1 do
  local seq, rc = ARGV[2 + i * 2], tonumber(ARGV[3 + i * 2])
  local raw = redis.call('HGET', msgs, seq)
  local status = 0
  if raw and cmsgpack.unpack(raw)[4] == rc then
    redis.call('HDEL', msgs, seq)
    redis.call('ZREM', inflight, seq)
    redis.call('ZREM', avail, seq)
    status = 1
  end
  out[#out + 1] = status
end
return out
