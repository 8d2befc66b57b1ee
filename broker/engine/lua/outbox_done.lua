-- outbox_done: a published message's queue deliveries are done; forget its outbox entry,
-- and hand its HTTP/S deliveries (if any) to the dispatcher's retry queue.
-- flags: allow-oom
-- KEYS: outbox, outq, httpq, httpmsg
-- ARGV: now_ms|'', then per message 3 values: message id, packed record for the HTTP
--       deliveries ('' none), number of HTTP subscriptions n, then those n subscription
--       ids ... (so: id, record, n, sub_1..sub_n, id, record, n, ...)
-- Returns: the earliest due time in httpq (ms), or -1 when it is empty.
-- httpq: "<message id> <subscription id>" (or "confirm <subscription id>") -> ms due;
-- httpmsg: message id -> msgpack map {r = record, n = deliveries pending}.
-- Touches: outbox, outq, httpq, httpmsg.
local outbox, outq, httpq, httpmsg = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now = now_ms(ARGV[1])
local i = 2
while i <= #ARGV do
  local id, record, n = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  redis.call('HDEL', outbox, id)
  redis.call('ZREM', outq, id)
  if n > 0 and record ~= '' and redis.call('HEXISTS', httpmsg, id) == 0 then
    redis.call('HSET', httpmsg, id, cmsgpack.pack({r = record, n = n}))
    for j = 1, n do
      redis.call('ZADD', httpq, 'NX', now, id .. ' ' .. ARGV[i + 2 + j])
    end
  end
  i = i + 3 + n
end
local head = redis.call('ZRANGE', httpq, 0, 0, 'WITHSCORES')
return head[2] and tonumber(head[2]) or -1
