-- idem_release: drop a worker's idempotency claim after its handler failed, but only
-- while the marker is still that claim (not "done", not someone else's claim).
-- flags: allow-oom
-- KEYS: the marker
-- ARGV: the claim ("running <owner>")
-- Returns: 1 when dropped, else 0.
-- Touches: the marker.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
