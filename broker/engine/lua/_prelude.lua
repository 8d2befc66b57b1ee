-- Helpers shared by every function of the library (prepended once by scripts.py).
-- Message record (msgpack array), see keys.py:
--   [1] id  [2] body  [3] sent_ms  [4] receive_count  [5] first_receive_ms
--   [6] extra (opaque, packed by Python)  [7] last_receive_ms  [8] dlq_source_arn

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

-- Drop messages older than the retention period, walking message numbers in send order
-- from the cursor; bounded by `limit` steps, so each caller pays O(limit) at most.
local function sweep(meta, msgs, avail, inflight, now, retention_ms, limit)
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
      redis.call('HDEL', msgs, m)
      redis.call('ZREM', avail, m)
      redis.call('ZREM', inflight, m)
    end
    cur = cur + 1
    steps = steps + 1
  end
  if cur ~= start then redis.call('HSET', meta, 'cur', cur) end
end
