-- stream_consumer_add: register an enhanced fan-out consumer (RegisterStreamConsumer).
-- KEYS: meta, consumers  (of the stream)
-- ARGV: consumer name, msgpack consumer map, max consumers per stream
-- Returns: 1; or error ResourceNotFoundException (no stream), ResourceInUseException
--          (the name is taken), LimitExceededException (too many consumers).
-- Touches: consumers.
local meta, consumers = KEYS[1], KEYS[2]
local arn = redis.call('HGET', meta, 'arn')
if not arn then return fail('ResourceNotFoundException', 'Stream not found.') end
if redis.call('HEXISTS', consumers, ARGV[1]) == 1 then
  return fail('ResourceInUseException', 'Consumer ' .. ARGV[1] .. ' under stream ' ..
    arn .. ' already exists.')
end
if redis.call('HLEN', consumers) >= tonumber(ARGV[3]) then
  return fail('LimitExceededException', 'Stream ' .. arn .. ' already has ' .. ARGV[3] ..
    ' consumers, the most a stream may have.')
end
redis.call('HSET', consumers, ARGV[1], ARGV[2])
return 1
