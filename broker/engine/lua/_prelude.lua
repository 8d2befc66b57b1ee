-- Helpers shared by every function of the library (prepended once by scripts.py).
-- Message record (msgpack array), see keys.py:
--   [1] id  [2] body  [3] sent_ms  [4] receive_count  [5] first_receive_ms
--   [6] extra (opaque, packed by Python)  [7] last_receive_ms  [8] dlq_source_arn
--   [9] body_md5 (absent in records written by older versions)
--   [10] message group id ('' none)  [11] deduplication id ('' none)  (FIFO queues and
--        standard queues given a MessageGroupId)

-- Redis server time in ms, unless a test clock passed one in (non-empty string).
local function now_ms(arg)
  if arg ~= nil and arg ~= '' then return tonumber(arg) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function fail(code, msg)
  return redis.error_reply('RC ' .. code .. ' ' .. msg)
end

local NO_QUEUE = 'The specified queue does not exist.'

-- A message number as stored (hash field, zset member): fixed width, so members with
-- equal scores sort in send order (zsets break ties lexicographically).
local function member(n)
  return string.format('%012d', n)
end

-- Wake long-polling receivers, but only when some engine is waiting on this queue.
local function wake(waiters, channel, now)
  if redis.call('ZCOUNT', waiters, now, '+inf') > 0 then
    redis.call('PUBLISH', channel, '1')
  end
end

-- FIFO queues keep, besides msgs/avail/inflight (see keys.py):
--   groups  zset  "<group>\0<message number>", score 0: each group's messages in send order
--   ready   zset  group -> ms it became (or becomes) receivable: groups whose first
--                 message is not in flight; receive serves the lowest scores first
--   ingroup hash  message number -> group, for the messages in flight
local function group_member(g, m)
  return g .. '\0' .. m
end

-- The first (oldest) message number of group g, or nil.
local function group_head(groups, g)
  local head = redis.call('ZRANGEBYLEX', groups, '[' .. g .. '\0', '(' .. g .. '\1',
    'LIMIT', 0, 1)
  if head[1] then return string.sub(head[1], #g + 2) end
  return nil
end

-- Put group g in `ready` when its first message is not in flight (keeping the time it
-- became ready if it already was: groups are served round-robin), or take it out.
local function refresh_group(f, avail, g, now)
  local head = group_head(f.groups, g)
  local s = head and redis.call('ZSCORE', avail, head)
  if s then
    s = tonumber(s)
    redis.call('ZADD', f.ready, 'NX', s > now and s or now, g)
  else
    redis.call('ZREM', f.ready, g)
  end
end

-- refresh_group for several groups (a list), with one ZMSCORE, ZADD and ZREM for all.
local function refresh_groups(f, avail, groups, now)
  if #groups == 0 then return end
  local heads, with_head = {}, {}
  local gone = {}
  for _, g in ipairs(groups) do
    local head = group_head(f.groups, g)
    if head then
      heads[#heads + 1] = head
      with_head[#with_head + 1] = g
    else
      gone[#gone + 1] = g
    end
  end
  if #heads > 0 then
    local scores = redis.call('ZMSCORE', avail, unpack(heads))
    local add = {}
    for i, g in ipairs(with_head) do
      local s = scores[i]
      if s then
        s = tonumber(s)
        add[#add + 1] = s > now and s or now
        add[#add + 1] = g
      else
        gone[#gone + 1] = g
      end
    end
    if #add > 0 then redis.call('ZADD', f.ready, 'NX', unpack(add)) end
  end
  if #gone > 0 then redis.call('ZREM', f.ready, unpack(gone)) end
end

-- Forget a message of a FIFO queue's group bookkeeping (it was deleted, dropped or moved).
local function leave_group(f, avail, m, g, now)
  redis.call('ZREM', f.groups, group_member(g, m))
  redis.call('HDEL', f.ingroup, m)
  refresh_group(f, avail, g, now)
end

-- The FIFO keys of a script's KEYS, starting at index i.
local function fifo_keys(keys, i)
  return {groups = keys[i], ready = keys[i + 1], ingroup = keys[i + 2]}
end

-- Fair queues: a standard queue whose messages carry a MessageGroupId (a tenant) keeps
-- (see keys.py), once its meta has x_fair:
--   fair    zset  message number -> virtual time: the order receive serves tenants in.
--                 A tenant's next message is filed 1 after the later of its previous
--                 one and the queue's virtual clock (the lowest pending virtual time, or
--                 meta's x_fair_vt, the last one served, when none is pending): a tenant
--                 that floods the queue runs ahead of the clock, and a quiet tenant's
--                 message lands at the front (weighted fair queuing, equal weights).
--   fairvt  zset  tenant -> its latest virtual time
--   tenant  hash  message number -> tenant ('' for a message without one)
--   tenantin hash tenant -> messages in flight (the noisy-tenant test)
-- A tenant is noisy with at least this many messages in flight (and more than a tenth
-- of the queue's): SQS's fair-queue thresholds.
local NOISY_MIN = 30

local function fair_keys(keys, i)
  return {fair = keys[i], vt = keys[i + 1], tenant = keys[i + 2], tin = keys[i + 3]}
end

-- The queue's virtual clock (see above).
local function fair_clock(fk, meta)
  local head = redis.call('ZRANGE', fk.fair, 0, 0, 'WITHSCORES')
  if head[2] then return tonumber(head[2]) end
  return tonumber(redis.call('HGET', meta, 'x_fair_vt') or '0')
end

-- File message m of tenant t for fair receiving (`clock`: fair_clock's value).
local function fair_enter(fk, m, t, clock)
  local last = tonumber(redis.call('ZSCORE', fk.vt, t) or '0')
  local vt = (last > clock and last or clock) + 1
  redis.call('ZADD', fk.vt, vt, t)
  redis.call('ZADD', fk.fair, vt, m)
  redis.call('HSET', fk.tenant, m, t)
end

-- In-flight message m is available again (visibility ran out, or set to 0): it goes to
-- the front, and its tenant has one message less in flight. (A message sent before the
-- queue turned fair is filed now, under tenant ''.)
local function fair_release(fk, meta, m)
  local t = redis.call('HGET', fk.tenant, m)
  if t then
    if redis.call('HINCRBY', fk.tin, t, -1) <= 0 then redis.call('HDEL', fk.tin, t) end
  else
    redis.call('HSET', fk.tenant, m, '')
  end
  redis.call('ZADD', fk.fair, fair_clock(fk, meta), m)
end

-- Messages `ms` leave a fair queue (deleted, dropped, moved out); `in_flight[i]` is
-- true when ms[i] was in flight.
local function fair_forget(fk, ms, in_flight)
  if #ms == 0 then return end
  local tenants = redis.call('HMGET', fk.tenant, unpack(ms))
  for i, t in ipairs(tenants) do
    if t and in_flight[i] then
      if redis.call('HINCRBY', fk.tin, t, -1) <= 0 then redis.call('HDEL', fk.tin, t) end
    end
  end
  redis.call('HDEL', fk.tenant, unpack(ms))
  redis.call('ZREM', fk.fair, unpack(ms))
end

-- Count a receive in record `rec` (receive count, first and last receive times); returns
-- the record packed.
local function mark_received(rec, now)
  rec[4] = rec[4] + 1
  if rec[4] == 1 then rec[5] = now end
  rec[7] = now
  return cmsgpack.pack(rec)
end

-- In-flight messages whose visibility timeout ran out are visible again (up to 100 per
-- call); a FIFO group (`f`) may become ready, a fair queue (`fk`) files them again.
local function release_expired(meta, avail, inflight, now, f, fk)
  local expired = redis.call('ZRANGEBYSCORE', inflight, '-inf', now, 'WITHSCORES',
    'LIMIT', 0, 100)
  for i = 1, #expired, 2 do
    local m = expired[i]
    redis.call('ZADD', avail, expired[i + 1], m)
    redis.call('ZREM', inflight, m)
    if fk then fair_release(fk, meta, m) end
    local g = f and redis.call('HGET', f.ingroup, m)
    if g then
      redis.call('HDEL', f.ingroup, m)
      refresh_group(f, avail, g, now)
    end
  end
end

-- The end of a receive (receive.lua, fifo_receive.lua): leftover dead-letter outbox
-- entries (a receiver died mid-move) to finish, when none was moved by this call; and,
-- when nothing is returned, when the next message is due (the first score of `next_key`
-- or of inflight; -1 none), registering `waiter` as a long-poller for `wait_ms`.
-- Returns {now, next_visible, out, moved, wait_ms}, the receive's reply.
local function receive_reply(dlqout, next_key, inflight, waiters, waiter, wait_ms, now,
                             out, moved)
  if #moved == 0 and redis.call('HLEN', dlqout) > 0 then
    -- racing a live move is harmless: dlq_accept is idempotent, dlq_settle settles once
    moved = redis.call('HRANDFIELD', dlqout, 10, 'WITHVALUES')
  end
  local next_visible = -1
  if #out == 0 then
    local a = redis.call('ZRANGE', next_key, 0, 0, 'WITHSCORES')
    local f = redis.call('ZRANGE', inflight, 0, 0, 'WITHSCORES')
    if a[2] then next_visible = tonumber(a[2]) end
    if f[2] and (next_visible < 0 or tonumber(f[2]) < next_visible) then
      next_visible = tonumber(f[2])
    end
    if waiter ~= '' and wait_ms > 0 then
      redis.call('ZREMRANGEBYSCORE', waiters, '-inf', now)
      redis.call('ZADD', waiters, 'GT', now + wait_ms + 1000, waiter)
    end
  end
  return {now, next_visible, out, moved, wait_ms}
end

-- Drop messages older than the retention period, walking message numbers in send order
-- from the cursor; bounded by `limit` steps, so each caller pays O(limit) at most.
-- `f`: the FIFO keys (nil for a standard queue); `fk`: the fair keys (nil unless fair).
local function sweep(meta, msgs, avail, inflight, now, retention_ms, limit, f, fk)
  local cur = tonumber(redis.call('HGET', meta, 'cur') or '1')
  local last = tonumber(redis.call('HGET', meta, 'seq') or '0')
  local start = cur
  local steps = 0
  while cur <= last and steps < limit do
    local m = member(cur)
    local raw = redis.call('HGET', msgs, m)
    if raw then
      local rec = cmsgpack.unpack(raw)
      if rec[3] + retention_ms > now then break end
      if fk then fair_forget(fk, {m}, {redis.call('ZSCORE', inflight, m) ~= false}) end
      redis.call('HDEL', msgs, m)
      redis.call('ZREM', avail, m)
      redis.call('ZREM', inflight, m)
      if f and rec[10] and rec[10] ~= '' then leave_group(f, avail, m, rec[10], now) end
    end
    cur = cur + 1
    steps = steps + 1
  end
  if cur ~= start then redis.call('HSET', meta, 'cur', cur) end
end

-- Position just past the msgpack string or non-negative integer that starts at `pos` of
-- `raw`, or nil for any other type (see record_receive_count).
local function skip_packed(raw, pos)
  local b = string.byte(raw, pos)
  if not b then return nil end
  if b < 0x80 then return pos + 1 end                      -- positive fixint
  if b >= 0xa0 and b <= 0xbf then return pos + 1 + b - 0xa0 end  -- fixstr
  if b == 0xd9 then return pos + 2 + string.byte(raw, pos + 1) end  -- str 8
  if b == 0xda then                                         -- str 16
    local h, l = string.byte(raw, pos + 1, pos + 2)
    return pos + 3 + h * 256 + l
  end
  if b == 0xdb then                                         -- str 32
    local b1, b2, b3, b4 = string.byte(raw, pos + 1, pos + 4)
    return pos + 5 + ((b1 * 256 + b2) * 256 + b3) * 256 + b4
  end
  if b == 0xcc then return pos + 2 end                      -- uint 8 .. uint 64
  if b == 0xcd then return pos + 3 end
  if b == 0xce then return pos + 5 end
  if b == 0xcf then return pos + 9 end
  return nil
end

-- The receive count (field 4) of a packed record, read without unpacking it: delete
-- compares it for every message and a full cmsgpack.unpack copies the whole body.
-- Falls back to unpacking for any layout other than the one cmsgpack writes.
local function record_receive_count(raw)
  local h = string.byte(raw, 1)
  local pos = h and h >= 0x98 and h <= 0x9f and 2           -- fixarray of 8..15
  for _ = 1, 3 do                                           -- id, body, sent_ms
    if not pos then break end
    pos = skip_packed(raw, pos)
  end
  if pos then
    local b = string.byte(raw, pos)
    if b and b < 0x80 then return b end
    if b == 0xcc then return string.byte(raw, pos + 1) end
    if b == 0xcd then
      local hi, lo = string.byte(raw, pos + 1, pos + 2)
      return hi * 256 + lo
    end
  end
  return cmsgpack.unpack(raw)[4]
end
