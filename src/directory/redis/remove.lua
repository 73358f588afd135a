-- ARGV[4..]: name, hold_ms. The operator removes a member: its session
-- ends (a Left event), its name is freed and its owner's keyprint joins
-- `banned`, refused at every Login. Returns {owner or "", "online" or
-- "offline", mark or ""}.
local name, hold_ms = ARGV[4], tonumber(ARGV[5])
local bind = p .. 'bind:' .. name
local owner = redis.call('HGET', bind, 'owner')
local sess = redis.call('HGET', p .. 'peer:' .. name, 'session')
local mark, online = '', 'offline'
if sess then
  mark = end_session(sess, name, hold_ms, cjson.encode({event = 'left', session = sess}))
  online = 'online'
end
redis.call('DEL', bind)
redis.call('ZREM', p .. 'holds', name)
if owner then redis.call('SADD', p .. 'banned', owner) end
return {owner or '', online, mark}
