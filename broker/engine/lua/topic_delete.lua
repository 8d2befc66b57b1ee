-- topic_delete: drop a topic, its subscriptions and its undelivered outbox (DeleteTopic).
-- flags: allow-oom
-- KEYS: the topic's keys (meta, subs, index, tags, outbox, outq, dedup, dedupexp,
--       httpq, httpmsg, httptry)
-- ARGV: none
-- Returns: the ids of the subscriptions it had (to drop from the account's listing);
--          deleting a topic that does not exist is a no-op, as in SNS.
-- Touches: all the topic's keys (UNLINK).
local ids = redis.call('HKEYS', KEYS[2])
redis.call('UNLINK', unpack(KEYS))
return ids
