-- Shared helpers, prepended to every script. P is the tenant key prefix ("sb:{tenant}:").
local function agent_node(P, aid)
  if not aid or aid == "" then return "" end
  local node = redis.call("GET", P .. "on:" .. aid)
  return node or ""
end

local function split(csv)
  local out = {}
  for item in string.gmatch(csv or "", "[^,]+") do out[#out + 1] = item end
  return out
end

-- Put the agent in (or take it out of) the ready line of each of its queues.
local function sync_ready(P, aid)
  local a = redis.call("HMGET", P .. "a:" .. aid, "state", "load", "capacity", "queues", "idle_since")
  local free = a[1] == "ready" and tonumber(a[2] or "0") < tonumber(a[3] or "1")
  for _, q in ipairs(split(a[4])) do
    if free then
      redis.call("ZADD", P .. "r:" .. q, tonumber(a[5] or "0"), aid)
    else
      redis.call("ZREM", P .. "r:" .. q, aid)
    end
  end
end

-- Give back one conversation slot of the agent.
local function release_slot(P, aid, sid, now)
  local ak = P .. "a:" .. aid
  local load = redis.call("HINCRBY", ak, "load", -1)
  if load < 0 then
    redis.call("HSET", ak, "load", 0)
    load = 0
  end
  if load == 0 then redis.call("HSET", ak, "idle_since", now) end
  redis.call("SREM", P .. "as:" .. aid, sid)
  sync_ready(P, aid)
end

-- Session search indexes (router.store.transcripts): per-tenant sorted sets of session ids
-- scored by the session's created_at; "sx:t" holds every session, "sx:{dim}:{value}" the
-- sessions of one stream (s), channel (c), remote party (p), queue (q) or agent (a).
local function index_session(P, sid, dim)
  local created = redis.call("HGET", P .. "s:" .. sid, "created_at")
  if created then redis.call("ZADD", P .. "sx:" .. dim, created, sid) end
end
