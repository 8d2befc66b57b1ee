-- fifo_receive: take up to 10 messages of a FIFO queue and make them in flight
-- (ReceiveMessage): from the groups in `ready`, oldest-ready first, each group's
-- messages in send order up to its first message in flight or still delayed.
-- flags: allow-oom
-- KEYS: meta, msgs, avail, inflight, dlqout, waiters, groups, ready, ingroup, attempts,
--       attempt_exp
-- ARGV: now_ms|'', max_messages, visibility_timeout_s|'' (queue default),
--       waiter_id|'' (register as long-poller when nothing is returned),
--       wait_ms|'' (how long it long-polls; '' = the queue's
--       ReceiveMessageWaitTimeSeconds), receive request attempt id|'', attempt
--       interval ms
-- Returns: {now_ms, next_visible_ms (-1 none; only when nothing returned),
--           {seq, record, ...} received, {seq, record, ...} moved to the DLQ outbox,
--           wait_ms in effect}
-- A message whose next receive would exceed maxReceiveCount goes to dlqout instead, and
-- its group gives no more messages in this call. With an attempt id seen within the
-- interval whose messages are unchanged (same receive count, not deleted, visibility not
-- changed), the same messages are returned again with their visibility reset.
-- Attempts live in attempts (id -> packed {seq, receive_count, deadline, ...}) and
-- attempt_exp (id -> expiry ms).
-- Touches: meta (cur), msgs, avail, inflight, dlqout, waiters, groups, ready, ingroup,
-- attempts, attempt_exp.
local meta, msgs, avail, inflight, dlqout, waiters =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local f = fifo_keys(KEYS, 7)
local attempts, attempt_exp = KEYS[10], KEYS[11]
local cfg = redis.call('HMGET', meta, 'VisibilityTimeout', 'MessageRetentionPeriod',
  'x_max_receive', 'ReceiveMessageWaitTimeSeconds')
if not cfg[1] then return fail('QueueDoesNotExist', NO_QUEUE) end
local now = now_ms(ARGV[1])
local maxn = tonumber(ARGV[2])
local vt_ms = tonumber(ARGV[3] ~= '' and ARGV[3] or cfg[1]) * 1000
local retention = tonumber(cfg[2]) * 1000
local maxrc = tonumber(cfg[3] or '')
local wait_ms = tonumber(ARGV[5] ~= '' and ARGV[5] or (tonumber(cfg[4] or '0') * 1000))
local attempt = ARGV[6]

release_expired(meta, avail, inflight, now, f, nil)
sweep(meta, msgs, avail, inflight, now, retention, 20, f)

-- Make message m (record rec, in group g) in flight; returns its packed record.
local function take(m, rec, g)
  local packed = mark_received(rec, now)
  redis.call('HSET', msgs, m, packed)
  redis.call('ZREM', avail, m)
  redis.call('ZADD', inflight, now + vt_ms, m)
  redis.call('HSET', f.ingroup, m, g)
  return packed
end

local out, moved = {}, {}

-- A retried receive: the same messages again when nothing changed since.
if attempt ~= '' then
  local old = redis.call('ZRANGEBYSCORE', attempt_exp, '-inf', now, 'LIMIT', 0, 20)
  if #old > 0 then
    redis.call('HDEL', attempts, unpack(old))
    redis.call('ZREM', attempt_exp, unpack(old))
  end
  local saved = redis.call('HGET', attempts, attempt)
  if saved and tonumber(redis.call('ZSCORE', attempt_exp, attempt) or '0') <= now then
    saved = nil
  end
  if saved then
    local prev = cmsgpack.unpack(saved)
    local recs = {}
    for i = 1, #prev, 3 do
      local m = prev[i]
      local raw = redis.call('HGET', msgs, m)
      local rec = raw and cmsgpack.unpack(raw)
      local deadline = redis.call('ZSCORE', inflight, m)
      if not rec or rec[4] ~= prev[i + 1] or
          (deadline and tonumber(deadline) ~= prev[i + 2]) then
        recs = nil
        break
      end
      recs[#recs + 1] = rec
    end
    if recs and #recs > 0 then
      local groups = {}
      for i, rec in ipairs(recs) do
        local m = prev[i * 3 - 2]
        rec[4] = rec[4] - 1   -- take() counts a receive; a retry is not a new one
        out[#out + 1] = m
        out[#out + 1] = take(m, rec, rec[10])
        prev[i * 3] = now + vt_ms
        groups[rec[10]] = true
      end
      for g in pairs(groups) do refresh_group(f, avail, g, now) end
      redis.call('HSET', attempts, attempt, cmsgpack.pack(prev))
      return {now, -1, out, moved, wait_ms}
    end
  end
end

-- Gather each ready group's receivable prefix (up to its first message in flight or
-- delayed), oldest-ready group first, until maxn messages; then read and update them
-- all at once.
local visited, nvisited = {}, 0
local pick_m, pick_g, pick_gm = {}, {}, {}
local rounds = 0
while #pick_m < maxn and rounds < 3 do
  rounds = rounds + 1
  local ready = redis.call('ZRANGEBYSCORE', f.ready, '-inf', now, 'LIMIT', 0, maxn + nvisited)
  local progress = false
  for _, g in ipairs(ready) do
    if #pick_m >= maxn then break end
    if not visited[g] then
      visited[g] = true
      nvisited = nvisited + 1
      progress = true
      local cand = redis.call('ZRANGEBYLEX', f.groups, '[' .. g .. '\0', '(' .. g .. '\1',
        'LIMIT', 0, maxn - #pick_m)
      local ms = {}
      for i, gm in ipairs(cand) do ms[i] = string.sub(gm, #g + 2) end
      local k = 0
      if #ms > 0 then
        local scores = redis.call('ZMSCORE', avail, unpack(ms))
        for i = 1, #ms do
          local sc = scores[i]
          if not sc then break end                         -- in flight: blocked here
          if tonumber(sc) > now then                       -- delayed: wait for it
            if i == 1 then redis.call('ZADD', f.ready, sc, g) end
            break
          end
          k = i
        end
      end
      if k == 0 and (#ms == 0 or not redis.call('ZSCORE', avail, ms[1])) then
        redis.call('ZREM', f.ready, g)                     -- empty, or first in flight
      end
      for i = 1, k do
        pick_m[#pick_m + 1] = ms[i]
        pick_g[#pick_g + 1] = g
        pick_gm[#pick_gm + 1] = cand[i]
      end
    end
  end
  if not progress then break end
end

if #pick_m > 0 then
  local raws = redis.call('HMGET', msgs, unpack(pick_m))
  local updated, deadlines, owners, gone, dropped = {}, {}, {}, {}, {}
  local stopped, took, blocked, unblocked = {}, {}, {}, {}
  for i, m in ipairs(pick_m) do
    local g, raw = pick_g[i], raws[i]
    if not stopped[g] then
      local rec = raw and cmsgpack.unpack(raw)
      if not rec or rec[3] + retention <= now then
        gone[#gone + 1] = m
        dropped[#dropped + 1] = pick_gm[i]
      elseif maxrc and rec[4] >= maxrc then
        -- to the DLQ; its group gives nothing more in this call
        redis.call('HSET', dlqout, m, raw)
        gone[#gone + 1] = m
        dropped[#dropped + 1] = pick_gm[i]
        moved[#moved + 1] = m
        moved[#moved + 1] = raw
        stopped[g] = true
      else
        local packed = mark_received(rec, now)
        updated[#updated + 1] = m
        updated[#updated + 1] = packed
        deadlines[#deadlines + 1] = now + vt_ms
        deadlines[#deadlines + 1] = m
        owners[#owners + 1] = m
        owners[#owners + 1] = g
        gone[#gone + 1] = m
        out[#out + 1] = m
        out[#out + 1] = packed
        if not took[g] then
          took[g] = true
          blocked[#blocked + 1] = g
        end
      end
    end
  end
  if #dropped > 0 then
    local dropped_msgs = {}
    for _, gm in ipairs(dropped) do
      local g, m = string.match(gm, '^(.*)%z(%d+)$')
      dropped_msgs[#dropped_msgs + 1] = m
      if not took[g] and not unblocked[g] then
        unblocked[g] = true
      end
    end
    redis.call('HDEL', msgs, unpack(dropped_msgs))
    redis.call('ZREM', f.groups, unpack(dropped))
  end
  if #gone > 0 then redis.call('ZREM', avail, unpack(gone)) end
  if #updated > 0 then
    redis.call('HSET', msgs, unpack(updated))
    redis.call('ZADD', inflight, unpack(deadlines))
    redis.call('HSET', f.ingroup, unpack(owners))
    -- Taking a group's first messages puts it in flight: the group is blocked.
    redis.call('ZREM', f.ready, unpack(blocked))
  end
  local others = {}
  for g in pairs(unblocked) do others[#others + 1] = g end
  refresh_groups(f, avail, others, now)
end

if attempt ~= '' and #out > 0 then
  local saved = {}
  for i = 1, #out, 2 do
    saved[#saved + 1] = out[i]
    saved[#saved + 1] = cmsgpack.unpack(out[i + 1])[4]
    saved[#saved + 1] = now + vt_ms
  end
  redis.call('HSET', attempts, attempt, cmsgpack.pack(saved))
  redis.call('ZADD', attempt_exp, now + tonumber(ARGV[7]), attempt)
end

return receive_reply(dlqout, f.ready, inflight, waiters, ARGV[4], wait_ms, now, out, moved)
