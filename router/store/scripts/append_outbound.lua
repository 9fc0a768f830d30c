-- Append an outbound message (agent, bot or system) to a session's history.
-- ARGV: 1 P, 2 tenant, 3 sid, 4 agent ("" = not an agent), 5 message json, 6 now ms,
--       7 inactivity ms, 8 dedupe key ("" = none), 9 dedupe ttl s
local P, tenant, sid, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[6])
local sk = P .. "s:" .. sid
local s = redis.call("HMGET", sk, "state", "agent")
if not s[1] then return {"missing"} end
if ARGV[4] ~= "" and (s[1] ~= "assigned" or s[2] ~= ARGV[4]) then return {"forbidden", s[1]} end
local dk = P .. "d:" .. ARGV[8]
if ARGV[8] ~= "" then
  local prev = redis.call("GET", dk)
  if prev then return {"dup", tonumber(prev)} end
end
local seq = redis.call("RPUSH", P .. "h:" .. sid, ARGV[5])
if ARGV[8] ~= "" then redis.call("SET", dk, seq, "EX", tonumber(ARGV[9])) end
if s[1] ~= "closed" then
  local inactivity_at = now + tonumber(ARGV[7])
  redis.call("HSET", sk, "updated_at", now, "inactivity_at", inactivity_at)
  redis.call("ZADD", "sb:sched", inactivity_at, "inact|" .. tenant .. "|" .. sid)
end
return {"ok", seq}
