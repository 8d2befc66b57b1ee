-- receive: take up to 10 visible messages and make them in flight (ReceiveMessage).
-- flags: allow-oom
-- KEYS: meta, msgs, avail, inflight, dlqout, waiters, fair, fairvt, tenant, tenantin
-- ARGV: now_ms|'', max_messages, visibility_timeout_s|'' (queue default),
--       waiter_id|'' (register as long-poller when nothing is returned),
--       wait_ms|'' (how long it long-polls; '' = the queue's
--       ReceiveMessageWaitTimeSeconds), inflight_limit
-- Returns: {now_ms, next_visible_ms (-1 none; only when nothing returned),
--           {seq, record, ...} received, {seq, record, ...} moved to the DLQ outbox,
--           wait_ms in effect}
-- Messages whose next receive would exceed the RedrivePolicy's maxReceiveCount go to
-- dlqout instead of being returned; expired in-flight messages become visible again;
-- messages past retention are dropped. Leftover outbox entries (a receiver crashed before
-- settling them) are returned as moved too, so they are finished.
-- Fair queues (x_fair, see _prelude.lua) serve messages in virtual-time order, skipping
-- the messages of noisy tenants (at least NOISY_MIN in flight, and more than a tenth of
-- all in flight) while quiet tenants have messages; then, as a standard queue does, in
-- the order they became visible. A message older than everything filed fairly (sent
-- before the queue turned fair) is taken first.
-- Touches: meta (cur), msgs, avail, inflight, dlqout, waiters, fair, tenant, tenantin.
local meta, msgs, avail, inflight, dlqout, waiters =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local cfg = redis.call('HMGET', meta, 'VisibilityTimeout', 'MessageRetentionPeriod',
  'x_max_receive', 'ReceiveMessageWaitTimeSeconds', 'x_fair')
if not cfg[1] then return fail('QueueDoesNotExist', NO_QUEUE) end
local now = now_ms(ARGV[1])
local maxn = tonumber(ARGV[2])
local vt_ms = tonumber(ARGV[3] ~= '' and ARGV[3] or cfg[1]) * 1000
local retention = tonumber(cfg[2]) * 1000
local maxrc = tonumber(cfg[3] or '')
local wait_ms = tonumber(ARGV[5] ~= '' and ARGV[5] or (tonumber(cfg[4] or '0') * 1000))

local fk = cfg[5] and fair_keys(KEYS, 7) or nil

-- In-flight messages whose visibility timeout ran out are visible again.
release_expired(meta, avail, inflight, now, nil, fk)
sweep(meta, msgs, avail, inflight, now, retention, 20, nil, fk)
if redis.call('ZCARD', inflight) >= tonumber(ARGV[6]) then
  return fail('OverLimit', 'Too many messages in flight: the queue holds ' .. ARGV[6] ..
    ' in-flight messages, the most allowed.')
end

local out, moved = {}, {}

-- A fair queue's first candidates: a message older than all filed fairly, then the
-- quiet tenants' messages in virtual-time order.
local first = {}
if fk then
  local head = redis.call('ZRANGEBYSCORE', avail, '-inf', now, 'LIMIT', 0, 1)
  if head[1] and not redis.call('ZSCORE', fk.fair, head[1]) then first[1] = head[1] end
  local window = redis.call('ZRANGE', fk.fair, 0, maxn * 3 - 1)
  if #window > 0 then
    local visible = redis.call('ZMSCORE', avail, unpack(window))
    local tenants = redis.call('HMGET', fk.tenant, unpack(window))
    local total = redis.call('ZCARD', inflight)
    local busy = {}
    for i, m in ipairs(window) do
      if #first >= maxn then break end
      local t = tenants[i]
      if visible[i] and tonumber(visible[i]) <= now and m ~= first[1] and t then
        if busy[t] == nil then
          local n = tonumber(redis.call('HGET', fk.tin, t) or '0')
          busy[t] = n >= NOISY_MIN and n * 10 > total
        end
        if not busy[t] then first[#first + 1] = m end
      end
    end
  end
end

local taken = {}
local rounds = 0
while #out < maxn * 2 and rounds < 5 do
  rounds = rounds + 1
  local cand
  if #first > 0 then
    cand, first = first, {}
  else
    cand = redis.call('ZRANGEBYSCORE', avail, '-inf', now, 'LIMIT', 0, maxn - #out / 2)
  end
  if #cand == 0 then break end
  redis.call('ZREM', avail, unpack(cand))
  local raws = redis.call('HMGET', msgs, unpack(cand))
  local owners = fk and redis.call('HMGET', fk.tenant, unpack(cand)) or {}
  local updated, deadlines = {}, {}
  for i, s in ipairs(cand) do
    local raw = raws[i]
    if raw then
      local rec = cmsgpack.unpack(raw)
      if rec[3] + retention <= now then
        redis.call('HDEL', msgs, s)
        if fk then fair_forget(fk, {s}, {false}) end
      elseif maxrc and rec[4] >= maxrc then
        redis.call('HDEL', msgs, s)
        if fk then fair_forget(fk, {s}, {false}) end
        redis.call('HSET', dlqout, s, raw)
        moved[#moved + 1] = s
        moved[#moved + 1] = raw
      else
        local packed = mark_received(rec, now)
        updated[#updated + 1] = s
        updated[#updated + 1] = packed
        deadlines[#deadlines + 1] = now + vt_ms
        deadlines[#deadlines + 1] = s
        out[#out + 1] = s
        out[#out + 1] = packed
        if owners[i] then
          taken[#taken + 1] = s
          redis.call('HINCRBY', fk.tin, owners[i], 1)
        end
      end
    end
  end
  if #updated > 0 then
    redis.call('HSET', msgs, unpack(updated))
    redis.call('ZADD', inflight, unpack(deadlines))
  end
end
if #taken > 0 then
  -- the virtual clock moves to the latest virtual time served
  local vts = redis.call('ZMSCORE', fk.fair, unpack(taken))
  local top = tonumber(redis.call('HGET', meta, 'x_fair_vt') or '0')
  for _, v in ipairs(vts) do
    if v and tonumber(v) > top then top = tonumber(v) end
  end
  redis.call('HSET', meta, 'x_fair_vt', top)
  redis.call('ZREM', fk.fair, unpack(taken))
end

return receive_reply(dlqout, avail, inflight, waiters, ARGV[4], wait_ms, now, out, moved)
