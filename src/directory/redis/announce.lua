-- ARGV[4..]: session, lease_ms, the Changed event (as Rust serialized it),
-- how many removed ids follow, the ids, then (id, file JSON) pairs added.
-- Returns {"ok", mark, files} or {"unauth"}.
local sess, lease_ms = ARGV[4], tonumber(ARGV[5])
local name = live_name(sess)
if not name then return {'unauth'} end
redis.call('ZADD', p .. 'leases', clock() + lease_ms, sess)
local files = p .. 'files:' .. name
local n_removed = tonumber(ARGV[7])
for i = 8, 7 + n_removed do
  redis.call('HDEL', files, ARGV[i])
end
for i = 8 + n_removed, #ARGV, 2 do
  redis.call('HSET', files, ARGV[i], ARGV[i + 1])
end
return {'ok', emit(ARGV[6]), redis.call('HLEN', files)}
