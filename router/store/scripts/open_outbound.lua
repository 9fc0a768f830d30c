-- Find or open the session of (stream, party) for an outbound-first message (SMS/MMS API).
-- A live session, or a closed one still inside its reopen window, is used as it is. Else a
-- new session is opened closed ("outbound"), with a reopen window: the customer's reply
-- reopens it into its queue like any closed conversation, history included.
-- ARGV: 1 P, 2 stream, 3 party, 4 new sid, 5 now ms, 6 channel, 7 account, 8 party json,
--       9 queue, 10 priority, 11 skills csv, 12 reopen window ms
local P, now = ARGV[1], tonumber(ARGV[5])
local ix = P .. "ix:" .. ARGV[2] .. ":" .. ARGV[3]
local sid = redis.call("GET", ix)
if sid then
  local s = redis.call("HMGET", P .. "s:" .. sid, "state", "reopen_until")
  if s[1] and (s[1] ~= "closed" or now <= tonumber(s[2] or "0")) then
    return {"existing", sid}
  end
end
sid = ARGV[4]
redis.call("HSET", P .. "s:" .. sid, "id", sid, "stream", ARGV[2], "channel", ARGV[6],
  "account", ARGV[7], "party", ARGV[8], "state", "closed", "created_at", now,
  "updated_at", now, "epoch", 0, "queue", ARGV[9], "priority", ARGV[10], "skills", ARGV[11],
  "closed_at", now, "close_reason", "outbound", "reopen_until", now + tonumber(ARGV[12]))
redis.call("SET", ix, sid)
-- Session search indexes (see lib.lua index_session; this script runs without lib.lua).
for _, dim in ipairs({"t", "s:" .. ARGV[2], "c:" .. ARGV[6], "p:" .. ARGV[3], "q:" .. ARGV[9]}) do
  redis.call("ZADD", P .. "sx:" .. dim, now, sid)
end
-- Sessions by our number (router.store.inbox): deleting a number's messages finds it.
if ARGV[7] ~= "" then redis.call("SADD", P .. "sa:" .. ARGV[7], sid) end
return {"new", sid}
