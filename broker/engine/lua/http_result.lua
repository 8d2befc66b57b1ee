-- http_result: record the outcome of one HTTP/S delivery attempt.
--   'done'   delivered (or given up on: dropped, or handed to the subscription's DLQ):
--            forget it; the message's record goes when its last delivery is done
--   'retry'  failed: try again at ARGV[4] (ms), one attempt more counted
--   'later'  not attempted (throttled): try at ARGV[4] (ms), no attempt counted
-- KEYS: httpq, httpmsg, httptry
-- ARGV: now_ms|'', member, mode, next_ms
-- Returns: the earliest due time left in httpq (ms), or -1 when it is empty.
-- Touches: httpq, httpmsg, httptry.
local httpq, httpmsg, httptry = KEYS[1], KEYS[2], KEYS[3]
local member = ARGV[2]
if ARGV[3] == 'retry' or ARGV[3] == 'later' then
  if redis.call('ZSCORE', httpq, member) then
    redis.call('ZADD', httpq, tonumber(ARGV[4]), member)
    if ARGV[3] == 'retry' then redis.call('HINCRBY', httptry, member, 1) end
  end
elseif redis.call('ZREM', httpq, member) == 1 then
  redis.call('HDEL', httptry, member)
  local id = string.match(member, '^(%S+) ')
  local raw = id ~= 'confirm' and redis.call('HGET', httpmsg, id)
  if raw then
    local entry = cmsgpack.unpack(raw)
    entry.n = entry.n - 1
    if entry.n <= 0 then
      redis.call('HDEL', httpmsg, id)
    else
      redis.call('HSET', httpmsg, id, cmsgpack.pack(entry))
    end
  end
end
local head = redis.call('ZRANGE', httpq, 0, 0, 'WITHSCORES')
return head[2] and tonumber(head[2]) or -1
