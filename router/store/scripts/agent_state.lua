-- Change an agent's state (ready / not_ready with reason / logged_out).
-- ARGV: 1 P, 2 agent, 3 state ("" = keep), 4 reason, 5 now ms
local P, aid = ARGV[1], ARGV[2]
local ak = P .. "a:" .. aid
local prev = redis.call("HGET", ak, "state")
if not prev then return {"missing"} end
if ARGV[3] ~= "" then
  if ARGV[3] == "ready" and prev ~= "ready" then redis.call("HSET", ak, "idle_since", ARGV[5]) end
  redis.call("HSET", ak, "state", ARGV[3], "reason", ARGV[4])
end
sync_ready(P, aid)
local a = redis.call("HMGET", ak, "state", "reason", "load", "capacity", "queues")
return {"ok", a[1], a[2] or "", tonumber(a[3] or "0"), tonumber(a[4] or "1"), a[5] or "", prev}
