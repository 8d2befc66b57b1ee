-- delete: delete up to 10 messages by receipt (DeleteMessage / DeleteMessageBatch).
-- flags: allow-oom
-- KEYS: meta, msgs, avail, inflight, fair, fairvt, tenant, tenantin
-- ARGV: handles: one msgpack array (packed by Python without the bin types) of
--       seq, receive_count, seq, receive_count, ...
-- Returns: {status_1..status_n}: 1 deleted; 0 nothing to do (already gone, or the
--          handle is stale because the message was received again since: fenced).
-- Touches: msgs, avail, inflight; fair, tenant, tenantin of a fair queue.
local meta, msgs, avail, inflight = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local cfg = redis.call('HMGET', meta, 'VisibilityTimeout', 'x_fair')
if not cfg[1] then return fail('QueueDoesNotExist', NO_QUEUE) end
local handles = cmsgpack.unpack(ARGV[1])
local n = #handles / 2
if n == 0 then return {} end
local seqs = {}
for i = 1, n do seqs[i] = handles[i * 2 - 1] end
local raws = redis.call('HMGET', msgs, unpack(seqs))
local out, gone, done = {}, {}, {}
for i = 1, n do
  local seq, raw = seqs[i], raws[i]
  local status = 0
  if raw and not done[seq] and record_receive_count(raw) == handles[i * 2] then
    done[seq] = true
    gone[#gone + 1] = seq
    status = 1
  end
  out[i] = status
end
if #gone > 0 then
  if cfg[2] then
    local fk = fair_keys(KEYS, 5)
    local scores = redis.call('ZMSCORE', inflight, unpack(gone))
    local in_flight = {}
    for i = 1, #gone do in_flight[i] = scores[i] ~= false end
    fair_forget(fk, gone, in_flight)
  end
  redis.call('HDEL', msgs, unpack(gone))
  redis.call('ZREM', inflight, unpack(gone))
  redis.call('ZREM', avail, unpack(gone))
end
return out
