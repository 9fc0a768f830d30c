-- Close a session (agent, customer or inactivity), releasing whatever agent holds it and
-- opening the reopen window.
-- ARGV: 1 P, 2 tenant, 3 sid, 4 reason, 5 now ms, 6 reopen window ms, 7 only this agent ("" any),
--       8 only if inactive (1/0)
local P, tenant, sid, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[5])
local sk = P .. "s:" .. sid
local s = redis.call("HMGET", sk, "state", "agent", "offer_agent", "queue", "offer_id", "inactivity_at",
  "direct", "stream")
if not s[1] then return {"missing"} end
if s[1] == "closed" then return {"already"} end
if ARGV[7] ~= "" and (s[1] ~= "assigned" or s[2] ~= ARGV[7]) then return {"forbidden", s[1]} end
if ARGV[8] == "1" and tonumber(s[6] or "0") > now then return {"active"} end
-- A personal-inbox session held for opt-in waits for the user's answer, however long.
if ARGV[8] == "1" and s[1] == "new" and s[7] == "1" then return {"active"} end
local holder = ""
if s[1] == "assigned" and s[2] and s[7] == "1" then
  -- Personal inbox: it never took a slot of the agent.
  holder = s[2]
  redis.call("SREM", P .. "as:" .. holder, sid)
elseif s[1] == "assigned" and s[2] then
  holder = s[2]
  release_slot(P, holder, sid, now)
elseif s[1] == "offered" and s[3] then
  holder = s[3]
  release_slot(P, holder, sid, now)
  redis.call("ZREM", "sb:sched", "offer|" .. tenant .. "|" .. sid .. "|" .. s[5])
end
redis.call("ZREM", P .. "w:" .. s[4], sid)
redis.call("ZREM", "sb:sched", "inact|" .. tenant .. "|" .. sid)
redis.call("HINCRBY", sk, "epoch", 1)
redis.call("HSET", sk, "state", "closed", "closed_at", now, "close_reason", ARGV[4],
  "reopen_until", now + tonumber(ARGV[6]))
redis.call("HDEL", sk, "agent", "offer_id", "offer_agent", "offer_expires", "pinned_agent")
redis.call("DEL", P .. "dec:" .. sid)
redis.call("SREM", P .. "so:" .. (s[8] or ""), sid)
return {"closed", s[1], holder, agent_node(P, holder), s[4]}
