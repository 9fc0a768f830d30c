-- Delete a closed session and everything stored with it (history, statuses, indexes).
-- An open session is left alone ("open"): the caller closes it first, so no agent keeps a
-- slot or a socket entry for a session that no longer exists.
-- ARGV: 1 P, 2 tenant, 3 sid, 4 account
local P, tenant, sid = ARGV[1], ARGV[2], ARGV[3]
local sk = P .. "s:" .. sid
local s = redis.call("HMGET", sk, "state", "stream", "party", "channel", "queue", "last_agent")
if not s[1] then
  redis.call("SREM", P .. "sa:" .. ARGV[4], sid)
  return {"missing"}
end
if s[1] ~= "closed" then return {"open", s[1]} end
local ok, party = pcall(cjson.decode, s[3] or "")
if ok and type(party) == "table" and party.id then
  local ix = P .. "ix:" .. s[2] .. ":" .. party.id
  if redis.call("GET", ix) == sid then redis.call("DEL", ix) end
  redis.call("ZREM", P .. "sx:p:" .. party.id, sid)
end
-- Search indexes; entries of earlier queues / agents are pruned when a search meets them.
for _, dim in ipairs({"t", "s:" .. s[2], "c:" .. (s[4] or ""), "q:" .. (s[5] or ""), "a:" .. (s[6] or "")}) do
  redis.call("ZREM", P .. "sx:" .. dim, sid)
end
redis.call("DEL", sk, P .. "h:" .. sid, P .. "st:" .. sid, P .. "dec:" .. sid)
redis.call("SREM", P .. "sa:" .. ARGV[4], sid)
redis.call("SREM", P .. "so:" .. s[2], sid)
redis.call("ZREM", "sb:sched", "inact|" .. tenant .. "|" .. sid)
return {"deleted"}
