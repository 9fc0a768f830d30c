-- Count one inbound message against its tenant's and its remote party's windows, atomically
-- (router/limits.py). Fixed windows: a counter starts at the first message and expires
-- ARGV[3] ms later; a message past a limit is not counted, so a flood never extends the window.
-- KEYS[1] sb:{tenant}:rl:t            KEYS[2] sb:{tenant}:rl:p:{party}
-- ARGV[1] tenant limit, ARGV[2] party limit (0: no limit, not counted); ARGV[3] window, ms
-- Returns {0, 0} when counted, {1, ms left} past the tenant limit, {2, ms left} past the
-- party's.
local limits = {tonumber(ARGV[1]), tonumber(ARGV[2])}
local window = tonumber(ARGV[3])
for i = 1, 2 do
  if limits[i] > 0 then
    local used = tonumber(redis.call('GET', KEYS[i]) or '0')
    if used >= limits[i] then
      local left = redis.call('PTTL', KEYS[i])
      if left < 0 then
        redis.call('PEXPIRE', KEYS[i], window)
        left = window
      end
      return {i, left}
    end
  end
end
for i = 1, 2 do
  if limits[i] > 0 then
    if redis.call('INCR', KEYS[i]) == 1 or redis.call('PTTL', KEYS[i]) < 0 then
      redis.call('PEXPIRE', KEYS[i], window)
    end
  end
end
return {0, 0}
