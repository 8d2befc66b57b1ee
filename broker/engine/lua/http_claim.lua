-- http_claim: take the HTTP/S deliveries of a topic that are due, for one dispatcher:
-- each is pushed ahead by the attempt timeout (a dispatcher that dies mid-attempt leaves
-- it to be retried then, by whoever).
-- KEYS: httpq, httpmsg, httptry
-- ARGV: now_ms|'', max, attempt_timeout_ms
-- Returns: {next_due_ms (-1 none), {member, attempts_so_far, record|'', ...}}: record is
--          the message's record ('' for a subscription confirmation).
-- Touches: httpq.
local httpq, httpmsg, httptry = KEYS[1], KEYS[2], KEYS[3]
local now = now_ms(ARGV[1])
local due = redis.call('ZRANGEBYSCORE', httpq, '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, member in ipairs(due) do
  redis.call('ZADD', httpq, now + tonumber(ARGV[3]), member)
  local id = string.match(member, '^(%S+) ')
  local record = ''
  if id ~= 'confirm' then
    local raw = redis.call('HGET', httpmsg, id)
    record = raw and cmsgpack.unpack(raw).r or ''
  end
  out[#out + 1] = member
  out[#out + 1] = tonumber(redis.call('HGET', httptry, member) or '0')
  out[#out + 1] = record
end
local head = redis.call('ZRANGE', httpq, 0, 0, 'WITHSCORES')
return {head[2] and tonumber(head[2]) or -1, out}
