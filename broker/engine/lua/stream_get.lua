-- stream_get: read records of one shard from a position (GetRecords), never older than
-- the stream's retention, at most `count` records and 10 MiB. With limits on, a provisioned shard serves 5 reads per second
-- and 2 MiB per second (a large read uses up the following seconds' budget, as in
-- Kinesis).
-- KEYS: data, state  (of the shard)
-- ARGV: now_ms|'', epoch of the stream, retention_ms, entry id, 'at' | 'after', count,
--       '1' = enforce limits | ''
-- Returns: {now_ms, closed entry id ('' open), last entry id ('' none),
--          {{id, {field, value, ...}}, ...}}; {'GONE'}; or {'T'} when throttled.
-- Touches: state (rsec, rcalls: this second's reads; rnext: ms the byte budget is
--          spent until).
local data, state = KEYS[1], KEYS[2]
local st = redis.call('HMGET', state, 'epoch', 'closed', 'rsec', 'rcalls', 'rnext')
if st[1] ~= ARGV[2] then return {'GONE'} end
local now = now_ms(ARGV[1])
local enforce = ARGV[7] == '1'
local sec = math.floor(now / 1000)
local calls = 0
local rnext = tonumber(st[5] or '0')
if enforce then
  if tonumber(st[3] or '-1') == sec then calls = tonumber(st[4]) end
  if calls >= 5 or rnext > now then return {'T'} end
end
local floor_ms = now - tonumber(ARGV[3])
local ms = tonumber(string.match(ARGV[4], '^(%d+)-'))
local start
if ms < floor_ms then
  start = floor_ms .. '-0'
elseif ARGV[5] == 'after' then
  start = '(' .. ARGV[4]
else
  start = ARGV[4]
end
-- up to `want` records and at most 10 MiB (always at least one record), read in chunks
local want, cap = tonumber(ARGV[6]), 10485760
local entries, bytes, full = {}, 0, false
while #entries < want and not full do
  local asked = math.min(want - #entries, 500)
  local chunk = redis.call('XRANGE', data, start, '+', 'COUNT', asked)
  for _, e in ipairs(chunk) do
    local size = 0
    for j = 2, #e[2], 2 do size = size + #e[2][j] end
    if #entries > 0 and bytes + size > cap then
      full = true
      break
    end
    entries[#entries + 1] = e
    bytes = bytes + size
  end
  if #chunk < asked then break end
  start = '(' .. chunk[#chunk][1]
end
local last = redis.call('XREVRANGE', data, '+', '-', 'COUNT', 1)
if enforce then
  rnext = math.max(rnext, now) + math.floor(bytes * 1000 / 2097152)
  redis.call('HSET', state, 'rsec', sec, 'rcalls', calls + 1, 'rnext', rnext)
end
return {now, st[2] or '', last[1] and last[1][1] or '', entries}
