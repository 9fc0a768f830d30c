-- Append an outbound message (agent, bot or system) to a session's history, once the
-- customer may be written to (router.store.filing).
-- ARGV: 1 P, 2 tenant, 3 sid, 4 agent ("" = not an agent), 5 message json, 6 now ms,
--       7 inactivity ms, 8 dedupe key ("" = none), 9 dedupe ttl s,
--       10 account, 11 party, 12 "1" = refuse a party the account cannot reach,
--       13 SMS channel whose opt-out and blocking apply ("" = none),
--       14 message id to index as {sid}|{seq} ("" = none), 15 index ttl s,
--       16 kind of the send's outbox timer ("" = none), 17 its delay ms
local P, tenant, sid, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[6])
local account, party = ARGV[10], ARGV[11]
local sk = P .. "s:" .. sid
local s = redis.call("HMGET", sk, "state", "agent")
if not s[1] then return {"missing"} end
if ARGV[12] == "1" then
  local reason = redis.call("HGET", P .. "unr:" .. account, party)
  if reason then return {"unreachable", reason} end
end
if ARGV[13] ~= "" then
  local c = redis.call("HMGET", P .. "sms:" .. ARGV[13] .. ":" .. account, "o:" .. party, "b:" .. party)
  if c[1] or c[2] then return {"refused", c[1] or "", c[2] or ""} end
end
if ARGV[4] ~= "" and (s[1] ~= "assigned" or s[2] ~= ARGV[4]) then return {"forbidden", s[1]} end
local dk = P .. "d:" .. ARGV[8]
if ARGV[8] ~= "" then
  local prev = redis.call("GET", dk)
  if prev then return {"dup", tonumber(prev)} end
end
local seq = redis.call("RPUSH", P .. "h:" .. sid, ARGV[5])
if ARGV[8] ~= "" then redis.call("SET", dk, seq, "EX", tonumber(ARGV[9])) end
if ARGV[14] ~= "" then
  redis.call("SET", P .. "msg:" .. ARGV[14], sid .. "|" .. seq, "EX", tonumber(ARGV[15]))
end
if ARGV[16] ~= "" then
  -- Dropped when a delivery of it takes its send claim; due, it queues the message again.
  redis.call("ZADD", "sb:sched", now + tonumber(ARGV[17]), ARGV[16] .. "|" .. tenant .. "|" .. sid .. "|" .. seq)
end
if s[1] ~= "closed" then
  local inactivity_at = now + tonumber(ARGV[7])
  redis.call("HSET", sk, "updated_at", now, "inactivity_at", inactivity_at)
  redis.call("ZADD", "sb:sched", inactivity_at, "inact|" .. tenant .. "|" .. sid)
end
return {"ok", seq}
