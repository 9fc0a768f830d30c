-- Hand a self-service conversation from the bot to the agents: with_bot -> queued.
-- ARGV: 1 P, 2 tenant, 3 sid, 4 queue, 5 now ms, 6 outbox delay ms
local P, tenant, sid, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[5])
local sk = P .. "s:" .. sid
if redis.call("HGET", sk, "state") ~= "with_bot" then return {"stale", 0} end
local epoch = redis.call("HINCRBY", sk, "epoch", 1)
redis.call("HSET", sk, "state", "queued", "queued_at", now, "queue", ARGV[4])
redis.call("ZADD", P .. "w:" .. ARGV[4], now, sid)
index_session(P, sid, "q:" .. ARGV[4])
redis.call("ZADD", "sb:sched", now + tonumber(ARGV[6]), "queue|" .. tenant .. "|" .. sid .. "|" .. epoch)
return {"queued", epoch}
