-- A held personal-inbox session (state new, direct) goes straight to its agent once the
-- user accepted SMS on the number: assigned, outside the agent's capacity (load untouched).
-- ARGV: 1 P, 2 tenant, 3 sid, 4 agent, 5 now ms, 6 inactivity ms
local P, tenant, sid, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[5])
local sk = P .. "s:" .. sid
local s = redis.call("HMGET", sk, "state", "direct")
if s[1] ~= "new" or s[2] ~= "1" then return {"stale", s[1] or ""} end
local inactivity_at = now + tonumber(ARGV[6])
redis.call("HSET", sk, "state", "assigned", "agent", ARGV[4], "last_agent", ARGV[4],
  "assigned_at", now, "updated_at", now, "inactivity_at", inactivity_at)
redis.call("SADD", P .. "as:" .. ARGV[4], sid)
index_session(P, sid, "a:" .. ARGV[4])
redis.call("ZADD", "sb:sched", inactivity_at, "inact|" .. tenant .. "|" .. sid)
return {"assigned", agent_node(P, ARGV[4])}
