-- stream_put: append records to one shard (PutRecord / PutRecords), trimming what is
-- past the stream's retention.
-- KEYS: data, state  (of the shard)
-- ARGV: now_ms|'', epoch of the stream, retention_ms, then (data, partition key) pairs
-- Returns: {'OK', entry id...}; {'GONE'} when the shard is not this stream's (deleted or
--          recreated: refresh the shard map); {'CLOSED'} when the shard was closed by a
--          reshard (refresh the map: the record belongs to a child).
-- Touches: data.
local data, state = KEYS[1], KEYS[2]
local st = redis.call('HMGET', state, 'epoch', 'closed')
if st[1] ~= ARGV[2] then return {'GONE'} end
if st[2] then return {'CLOSED'} end
local now = now_ms(ARGV[1])
local id = ARGV[1] == '' and '*' or (ARGV[1] .. '-*')
local floor = tostring(now - tonumber(ARGV[3]))
local out = {'OK'}
for i = 4, #ARGV, 2 do
  out[#out + 1] = redis.call('XADD', data, 'MINID', '~', floor, id, 'd', ARGV[i],
    'k', ARGV[i + 1])
end
return out
