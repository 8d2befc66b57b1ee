-- stream_get: read records of one shard from a position (GetRecords), never older than
-- the stream's retention.
-- flags: no-writes
-- KEYS: data, state  (of the shard)
-- ARGV: now_ms|'', epoch of the stream, retention_ms, entry id, 'at' | 'after', count
-- Returns: {now_ms, closed entry id ('' open; '-' closed while empty), last entry id
--          ('' none), {{id, {field, value, ...}}, ...}}; or {'GONE'}.
-- Touches: nothing.
local data, state = KEYS[1], KEYS[2]
local st = redis.call('HMGET', state, 'epoch', 'closed')
if st[1] ~= ARGV[2] then return {'GONE'} end
local now = now_ms(ARGV[1])
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local floor_ms = now - tonumber(ARGV[3])
local ms, seq = parse(ARGV[4])
local start
if ms < floor_ms then
  start = floor_ms .. '-0'
elseif ARGV[5] == 'after' then
  start = '(' .. ARGV[4]
else
  start = ARGV[4]
end
local entries = redis.call('XRANGE', data, start, '+', 'COUNT', tonumber(ARGV[6]))
local last = redis.call('XREVRANGE', data, '+', '-', 'COUNT', 1)
return {now, st[2] or '', last[1] and last[1][1] or '', entries}
