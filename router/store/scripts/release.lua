-- An offer ends without acceptance (rejected, or timed out): free the agent's slot, on
-- timeout set the agent Not Ready ("missed offer"), and put the session back in line.
-- ARGV: 1 P, 2 tenant, 3 sid, 4 offer id, 5 agent ("" = whoever holds it), 6 timeout (1/0),
--       7 now ms, 8 missed-offer reason, 9 outbox delay ms
local P, tenant, sid, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[7])
local sk = P .. "s:" .. sid
local s = redis.call("HMGET", sk, "state", "offer_id", "offer_agent", "offer_expires")
if s[1] ~= "offered" or s[2] ~= ARGV[4] then return {"stale"} end
if ARGV[5] ~= "" and s[3] ~= ARGV[5] then return {"stale"} end
if ARGV[6] == "1" and tonumber(s[4] or "0") > now then return {"early"} end
local aid = s[3]
if ARGV[6] == "1" and redis.call("HGET", P .. "a:" .. aid, "state") == "ready" then
  redis.call("HSET", P .. "a:" .. aid, "state", "not_ready", "reason", ARGV[8])
end
release_slot(P, aid, sid, now)
redis.call("SADD", P .. "dec:" .. sid, aid)
redis.call("EXPIRE", P .. "dec:" .. sid, 86400)
local epoch = redis.call("HINCRBY", sk, "epoch", 1)
redis.call("HSET", sk, "state", "queued")
redis.call("HDEL", sk, "offer_id", "offer_agent", "offer_expires")
redis.call("ZREM", "sb:sched", "offer|" .. tenant .. "|" .. sid .. "|" .. ARGV[4])
redis.call("ZADD", "sb:sched", now + tonumber(ARGV[9]), "queue|" .. tenant .. "|" .. sid .. "|" .. epoch)
local a = redis.call("HMGET", P .. "a:" .. aid, "state", "reason", "load", "capacity")
return {"requeued", aid, epoch, agent_node(P, aid), a[1], a[2] or "", tonumber(a[3]), tonumber(a[4]),
  redis.call("HGET", sk, "queue")}
