-- The assigned agent hands the session to another queue, or to one named agent of a queue.
-- ARGV: 1 P, 2 tenant, 3 sid, 4 agent, 5 target queue, 6 target agent ("" = any), 7 now ms,
--       8 outbox delay ms
local P, tenant, sid, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[7])
local sk = P .. "s:" .. sid
local s = redis.call("HMGET", sk, "state", "agent", "queue")
if s[1] ~= "assigned" or s[2] ~= ARGV[4] then return {"forbidden", s[1] or ""} end
release_slot(P, ARGV[4], sid, now)
local epoch = redis.call("HINCRBY", sk, "epoch", 1)
redis.call("HSET", sk, "state", "queued", "queue", ARGV[5], "queued_at", now, "pinned_agent", ARGV[6])
redis.call("HDEL", sk, "agent")
redis.call("ZADD", P .. "w:" .. ARGV[5], now, sid)
index_session(P, sid, "q:" .. ARGV[5])
redis.call("ZADD", "sb:sched", now + tonumber(ARGV[8]), "queue|" .. tenant .. "|" .. sid .. "|" .. epoch)
return {"requeued", epoch, s[3]}
