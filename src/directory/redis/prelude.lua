-- Lua shared by the scripts: the prefix is `ARGV[1]`, an epoch to use if
-- the store has none `ARGV[2]`, the stream's length `ARGV[3]`.
local p = ARGV[1]
local function emit(event)
  local epoch = redis.call('GET', p .. 'epoch')
  if not epoch then
    epoch = ARGV[2]
    redis.call('SET', p .. 'epoch', epoch)
  end
  local seq = redis.call('INCR', p .. 'seq')
  redis.call('XADD', p .. 'events', 'MAXLEN', '~', ARGV[3], '*',
    'seq', seq, 'epoch', epoch, 'e', event)
  return epoch .. ':' .. seq
end
local function clock()
  return tonumber(redis.call('GET', p .. 'clock') or '0')
end
local function wall_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function live_name(sess)
  local name = redis.call('HGET', p .. 'sess:' .. sess, 'name')
  if not name then return nil end
  local ends = redis.call('ZSCORE', p .. 'leases', sess)
  if not ends or tonumber(ends) < clock() then return nil end
  return name
end
-- Ends a session and emits `event`, its Left: the name is held for its
-- owner from now on the lease clock (`holds`: name -> end of the hold).
local function end_session(sess, name, hold_ms, event)
  redis.call('DEL', p .. 'sess:' .. sess)
  redis.call('ZREM', p .. 'leases', sess)
  redis.call('DEL', p .. 'peer:' .. name, p .. 'files:' .. name)
  local bind = p .. 'bind:' .. name
  if redis.call('EXISTS', bind) == 1 then
    local now = clock()
    redis.call('HSET', bind, 'released', now)
    redis.call('ZADD', p .. 'holds', now + hold_ms, name)
  end
  return emit(event)
end
