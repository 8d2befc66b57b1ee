-- delete_queue: drop a queue and all its messages (DeleteQueue).
-- flags: allow-oom
-- KEYS: meta, msgs, avail, inflight, dlqout, waiters, tags, sources
-- ARGV: none
-- Returns: 1 deleted, or error QueueDoesNotExist.
-- Touches: all the queue's keys (UNLINK: large hashes are freed in the background).
if redis.call('EXISTS', KEYS[1]) == 0 then return fail('QueueDoesNotExist', NO_QUEUE) end
redis.call('UNLINK', unpack(KEYS))
return 1
