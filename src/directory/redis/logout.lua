-- ARGV[4..]: session, hold_ms, the Left event (as Rust serialized it).
-- Returns {"ok", mark} or {"unauth"}.
local sess, hold_ms = ARGV[4], tonumber(ARGV[5])
local name = live_name(sess)
if not name then return {'unauth'} end
return {'ok', end_session(sess, name, hold_ms, ARGV[6])}
