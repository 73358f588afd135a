-- ARGV[4..]: session, lease_ms. Returns {"ok"} or {"unauth"}.
local sess, lease_ms = ARGV[4], tonumber(ARGV[5])
if not live_name(sess) then return {'unauth'} end
redis.call('ZADD', p .. 'leases', clock() + lease_ms, sess)
return {'ok'}
