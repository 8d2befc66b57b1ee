-- stream_open_shard: open one shard of a stream being created (idempotent).
-- KEYS: state  (of the shard)
-- ARGV: epoch of the stream
-- Returns: 1.
-- Touches: state.
redis.call('HSET', KEYS[1], 'epoch', ARGV[1])
return 1
