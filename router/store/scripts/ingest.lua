-- File one inbound message under its session: dedupe, find-or-open (with reopen rules),
-- append to history, refresh the inactivity timer and, for a new or reopened session,
-- put it in its queue's waiting line (with an outbox timer until it is published).
-- ARGV: 1 P, 2 tenant, 3 stream, 4 party, 5 dedupe key ("" = none), 6 new sid, 7 now ms,
--       8 message json, 9 channel, 10 account, 11 party json, 12 queue, 13 priority,
--       14 skills csv, 15 reopen allowed (1/0), 16 inactivity ms, 17 dedupe ttl s,
--       18 outbox delay ms, 19 assign to this agent directly ("" = route; personal inbox),
--       20 hold a new / reopened session unrouted (1/0; personal inbox awaiting opt-in),
--       21 start a new / reopened session with the self-service bot (1/0; not in the line)
local P, tenant, now = ARGV[1], ARGV[2], tonumber(ARGV[7])
local dk = P .. "d:" .. ARGV[5]
if ARGV[5] ~= "" then
  local prev = redis.call("GET", dk)
  if prev then
    local sid, seq = string.match(prev, "^(.*)|(%d+)$")
    local s = redis.call("HMGET", P .. "s:" .. sid, "state", "agent", "epoch")
    return {"dup", sid, tonumber(seq), s[1] or "", s[2] or "", agent_node(P, s[2]), tonumber(s[3] or "0"), ""}
  end
end
local ix = P .. "ix:" .. ARGV[3] .. ":" .. ARGV[4]
local sid = redis.call("GET", ix)
local outcome = "existing"
if sid then
  local state = redis.call("HGET", P .. "s:" .. sid, "state")
  if not state then
    sid = false
  elseif state == "closed" then
    local reopen_until = tonumber(redis.call("HGET", P .. "s:" .. sid, "reopen_until") or "0")
    if ARGV[15] == "1" and now <= reopen_until then outcome = "reopened" else sid = false end
  end
end
if not sid then
  sid = ARGV[6]
  outcome = "new"
  redis.call("HSET", P .. "s:" .. sid, "id", sid, "stream", ARGV[3], "channel", ARGV[9],
    "account", ARGV[10], "party", ARGV[11], "state", "new", "created_at", now, "epoch", 0,
    "queue", ARGV[12], "priority", ARGV[13], "skills", ARGV[14])
  redis.call("SET", ix, sid)
  if ARGV[10] ~= "" then redis.call("SADD", P .. "sa:" .. ARGV[10], sid) end
  for _, dim in ipairs({"t", "s:" .. ARGV[3], "c:" .. ARGV[9], "p:" .. ARGV[4]}) do
    index_session(P, sid, dim)
  end
end
local sk = P .. "s:" .. sid
local seq = redis.call("RPUSH", P .. "h:" .. sid, ARGV[8])
if ARGV[5] ~= "" then redis.call("SET", dk, sid .. "|" .. seq, "EX", tonumber(ARGV[17])) end
local inactivity_at = now + tonumber(ARGV[16])
redis.call("HSET", sk, "updated_at", now, "inactivity_at", inactivity_at)
redis.call("ZADD", "sb:sched", inactivity_at, "inact|" .. tenant .. "|" .. sid)
local epoch = tonumber(redis.call("HGET", sk, "epoch") or "0")
if outcome ~= "existing" and (ARGV[19] or "") ~= "" then
  -- Personal inbox: straight to the agent, outside its capacity (load untouched).
  epoch = redis.call("HINCRBY", sk, "epoch", 1)
  redis.call("HSET", sk, "state", "assigned", "agent", ARGV[19], "last_agent", ARGV[19],
    "assigned_at", now, "direct", "1")
  redis.call("HDEL", sk, "closed_at", "close_reason", "reopen_until")
  redis.call("SADD", P .. "as:" .. ARGV[19], sid)
  index_session(P, sid, "a:" .. ARGV[19])
elseif outcome ~= "existing" and ARGV[20] == "1" then
  epoch = redis.call("HINCRBY", sk, "epoch", 1)
  redis.call("HSET", sk, "state", "new", "direct", "1")
  redis.call("HDEL", sk, "closed_at", "close_reason", "reopen_until", "agent")
elseif outcome ~= "existing" and ARGV[21] == "1" then
  epoch = redis.call("HINCRBY", sk, "epoch", 1)
  redis.call("HSET", sk, "state", "with_bot", "queue", ARGV[12])
  redis.call("HDEL", sk, "closed_at", "close_reason", "reopen_until", "agent")
elseif outcome ~= "existing" then
  epoch = redis.call("HINCRBY", sk, "epoch", 1)
  local queue = redis.call("HGET", sk, "queue")
  redis.call("HSET", sk, "state", "queued", "queued_at", now)
  redis.call("HDEL", sk, "closed_at", "close_reason", "reopen_until", "agent")
  redis.call("ZADD", P .. "w:" .. queue, now, sid)
  redis.call("ZADD", "sb:sched", now + tonumber(ARGV[18]), "queue|" .. tenant .. "|" .. sid .. "|" .. epoch)
end
if outcome ~= "existing" then
  index_session(P, sid, "q:" .. (redis.call("HGET", sk, "queue") or ""))
  -- The stream's open sessions (router.store.transcripts open_in_stream); close.lua removes it.
  redis.call("SADD", P .. "so:" .. ARGV[3], sid)
end
local s = redis.call("HMGET", sk, "state", "agent", "last_agent")
return {outcome, sid, seq, s[1], s[2] or "", agent_node(P, s[2]), epoch, s[3] or ""}
