-- Take one call from a bot account's daily cap, atomically (bots/quota.py).
-- KEYS[1] sb:{tenant}:botq:{account}:{YYYY-MM-DD}   (the tenant's local date)
-- ARGV[1] max API calls per day; ARGV[2] expiry of the day's counter, seconds
-- Returns the calls left after this one, or -1 (nothing taken) when the cap is reached:
-- the counter is only incremented below the max, so it never exceeds it, not even briefly.
local max = tonumber(ARGV[1])
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used >= max then
  return -1
end
used = redis.call('INCR', KEYS[1])
if used == 1 then
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
end
return max - used
