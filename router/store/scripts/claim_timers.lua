-- Lease due timers: each due member is pushed lease ms into the future and returned with
-- its new score; the caller removes it once handled (complete_timer), else it comes back.
-- ARGV: 1 now ms, 2 lease ms, 3 limit
local now = tonumber(ARGV[1])
local due = redis.call("ZRANGEBYSCORE", "sb:sched", "-inf", now, "LIMIT", 0, tonumber(ARGV[3]))
local leased = now + tonumber(ARGV[2])
for _, member in ipairs(due) do redis.call("ZADD", "sb:sched", leased, member) end
return {leased, due}
