-- The offered agent accepts: the session becomes assigned to it.
-- ARGV: 1 P, 2 tenant, 3 sid, 4 agent, 5 offer id, 6 now ms
local P, tenant, sid = ARGV[1], ARGV[2], ARGV[3]
local sk = P .. "s:" .. sid
local s = redis.call("HMGET", sk, "state", "offer_id", "offer_agent", "queue", "offer_expires")
if s[1] ~= "offered" or s[2] ~= ARGV[5] or s[3] ~= ARGV[4] then return {"invalid", s[1] or ""} end
if tonumber(s[5] or "0") < tonumber(ARGV[6]) then return {"expired", s[1]} end
redis.call("HSET", sk, "state", "assigned", "agent", ARGV[4], "last_agent", ARGV[4],
  "assigned_at", ARGV[6])
redis.call("HDEL", sk, "offer_id", "offer_agent", "offer_expires", "pinned_agent")
redis.call("ZREM", P .. "w:" .. s[4], sid)
redis.call("ZREM", "sb:sched", "offer|" .. tenant .. "|" .. sid .. "|" .. ARGV[5])
redis.call("DEL", P .. "dec:" .. sid)
index_session(P, sid, "a:" .. ARGV[4])
return {"assigned", s[4]}
