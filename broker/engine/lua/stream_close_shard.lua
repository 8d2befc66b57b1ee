-- stream_close_shard: close a shard for a reshard (idempotent): from now on a put to it
-- answers CLOSED and the writer routes to the children.
-- KEYS: data, state  (of the shard)
-- ARGV: now_ms|'', epoch of the stream
-- Returns: the ending entry ID (the last record's, or '<now>-0' for an empty shard); or
--          '' when the shard is not this stream's.
-- Touches: state (closed).
local data, state = KEYS[1], KEYS[2]
local st = redis.call('HMGET', state, 'epoch', 'closed')
if st[1] ~= ARGV[2] then return '' end
if st[2] then return st[2] end
local last = redis.call('XREVRANGE', data, '+', '-', 'COUNT', 1)
local id = last[1] and last[1][1] or (now_ms(ARGV[1]) .. '-0')
redis.call('HSET', state, 'closed', id)
return id
