-- ARGV[4..]: the clock's largest step (ms), hold_ms, the batch size, and
-- milliseconds to add to Redis's time (0 but in tests). Moves the lease
-- clock by the wall time since the last sweep (at most the step), ends
-- every session whose lease ended (its Left event is the one thing built
-- here: a session print is all it holds) and forgets bindings whose hold
-- is over. Returns {mark, name, addr, name, addr, ...} (mark 0: nothing
-- ended).
local step_max, hold_ms, batch = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local now = wall_ms() + tonumber(ARGV[7])
local last = tonumber(redis.call('GET', p .. 'clock_wall') or now)
local step = math.min(math.max(now - last, 0), step_max)
local c = clock() + step
redis.call('SET', p .. 'clock', c)
redis.call('SET', p .. 'clock_wall', now)
local lapsed = redis.call('ZRANGEBYSCORE', p .. 'leases', '-inf', '(' .. c, 'LIMIT', 0, batch)
local out = {0}
for _, sess in ipairs(lapsed) do
  local name = redis.call('HGET', p .. 'sess:' .. sess, 'name')
  if name then
    local addr = redis.call('HGET', p .. 'peer:' .. name, 'addr') or ''
    out[1] = end_session(sess, name, hold_ms, cjson.encode({event = 'left', session = sess}))
    out[#out + 1] = name
    out[#out + 1] = addr
  else
    redis.call('ZREM', p .. 'leases', sess)
  end
end
for _, name in ipairs(redis.call('ZRANGEBYSCORE', p .. 'holds', '-inf', c, 'LIMIT', 0, batch)) do
  redis.call('DEL', p .. 'bind:' .. name)
  redis.call('ZREM', p .. 'holds', name)
end
return out
