-- stream_put: append records to one shard (PutRecord / PutRecords), trimming what is
-- past the stream's retention; with limits on, a provisioned shard takes at most 1,000
-- records and 1 MiB per second (the rest of the batch is refused, in order).
-- KEYS: data, state  (of the shard)
-- ARGV: now_ms|'', epoch of the stream, retention_ms, '1' = enforce limits | '', then
--       (data, partition key) pairs
-- Returns: {'OK', entry id | 'T' (throttled) ...}; {'GONE'} when the shard is not this
--          stream's (deleted or recreated: refresh the shard map); {'CLOSED'} when the
--          shard was closed by a reshard (refresh the map: the record belongs to a child).
-- Touches: data, state (wsec, wrec, wbyt: this second's writes).
local data, state = KEYS[1], KEYS[2]
local st = redis.call('HMGET', state, 'epoch', 'closed', 'wsec', 'wrec', 'wbyt')
if st[1] ~= ARGV[2] then return {'GONE'} end
if st[2] then return {'CLOSED'} end
local now = now_ms(ARGV[1])
local id = ARGV[1] == '' and '*' or (ARGV[1] .. '-*')
local floor = tostring(now - tonumber(ARGV[3]))
local enforce = ARGV[4] == '1'
local sec = math.floor(now / 1000)
local recs, bytes = 0, 0
if enforce and tonumber(st[3] or '-1') == sec then
  recs, bytes = tonumber(st[4]), tonumber(st[5])
end
local out = {'OK'}
for i = 5, #ARGV, 2 do
  local size = #ARGV[i] + #ARGV[i + 1]
  if enforce and (recs + 1 > 1000 or bytes + size > 1048576) then
    out[#out + 1] = 'T'
  else
    recs, bytes = recs + 1, bytes + size
    out[#out + 1] = redis.call('XADD', data, 'MINID', '~', floor, id, 'd', ARGV[i],
      'k', ARGV[i + 1])
  end
end
if enforce then redis.call('HSET', state, 'wsec', sec, 'wrec', recs, 'wbyt', bytes) end
return out
