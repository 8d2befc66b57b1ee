-- stream_peek: a shard's state for a read that is not metered (GetRecords on a stream
-- without throughput limits; the records themselves come from a plain XRANGE sent in
-- the same pipeline, which Redis serves faster than a script can copy them).
-- flags: no-writes
-- KEYS: data, state  (of the shard)
-- ARGV: epoch of the stream
-- Returns: {closed entry id ('' open), last entry id ('' none)}; or {'GONE'}.
-- Touches: nothing.
local st = redis.call('HMGET', KEYS[2], 'epoch', 'closed')
if st[1] ~= ARGV[1] then return {'GONE'} end
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
return {st[2] or '', last[1] and last[1][1] or ''}
