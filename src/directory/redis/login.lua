-- ARGV[4..]: name, owner, session, addr, lease_ms, hold_ms, the Joined
-- event (as Rust serialized it), then (id, file JSON) pairs. Returns
-- {"ok", mark} (`epoch:seq` of its event), {"banned"} for an owner the
-- operator removed, or {"taken", "live"|"held"}: another owner's name is
-- taken while it is live and for hold_ms on the lease clock after its
-- last session ended.
local name, owner, sess, addr = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local lease_ms, hold_ms = tonumber(ARGV[8]), tonumber(ARGV[9])
if redis.call('SISMEMBER', p .. 'banned', owner) == 1 then return {'banned'} end
local bind = p .. 'bind:' .. name
local b = redis.call('HMGET', bind, 'owner', 'released')
if b[1] and b[1] ~= owner then
  if not b[2] or b[2] == '' then return {'taken', 'live'} end
  if clock() < tonumber(b[2]) + hold_ms then return {'taken', 'held'} end
end
local old = redis.call('HGET', p .. 'peer:' .. name, 'session')
if old then
  redis.call('DEL', p .. 'sess:' .. old)
  redis.call('ZREM', p .. 'leases', old)
end
redis.call('DEL', p .. 'files:' .. name)
for i = 11, #ARGV, 2 do
  redis.call('HSET', p .. 'files:' .. name, ARGV[i], ARGV[i + 1])
end
redis.call('HSET', p .. 'peer:' .. name, 'session', sess, 'addr', addr)
redis.call('HSET', p .. 'sess:' .. sess, 'name', name)
redis.call('ZADD', p .. 'leases', clock() + lease_ms, sess)
redis.call('DEL', bind)
redis.call('HSET', bind, 'owner', owner, 'released', '')
redis.call('ZREM', p .. 'holds', name)
return {'ok', emit(ARGV[10])}
