-- stream_status: move a stream from one status to another, if it is still the same
-- incarnation (epoch) in the expected status.
-- KEYS: meta  (of the stream)
-- ARGV: epoch, from status ('' any), to status
-- Returns: 1 moved, 0 not (gone, recreated, or in another status).
-- Touches: meta (status).
local cur = redis.call('HMGET', KEYS[1], 'epoch', 'status')
if cur[1] ~= ARGV[1] then return 0 end
if ARGV[2] ~= '' and cur[2] ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[3])
return 1
