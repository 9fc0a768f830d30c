-- Offer a queued session to one agent: the pinned agent (transfer), else the preferred
-- (last) agent, else the longest-idle ready agent of the queue with free capacity and the
-- session's skills, skipping agents who already declined it while anyone else can take it.
-- Reserves one slot of the agent and arms the offer timer. Atomic: never two offers.
-- ARGV: 1 P, 2 tenant, 3 sid, 4 epoch, 5 offer id, 6 now ms, 7 expires ms, 8 preferred agent
local P, tenant, sid, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[6])
local sk = P .. "s:" .. sid
local s = redis.call("HMGET", sk, "state", "epoch", "pinned_agent", "skills", "queue")
if s[1] ~= "queued" or s[2] ~= ARGV[4] then return {"stale"} end
local queue = s[5]
local skills = split(s[4])

local function eligible(aid)
  local a = redis.call("HMGET", P .. "a:" .. aid, "state", "load", "capacity")
  if a[1] ~= "ready" or tonumber(a[2] or "0") >= tonumber(a[3] or "1") then return nil end
  local node = agent_node(P, aid)
  if node == "" then return nil end
  for _, skill in ipairs(skills) do
    if redis.call("SISMEMBER", P .. "ask:" .. aid, skill) == 0 then return nil end
  end
  return node
end

local chosen, node = nil, nil
if s[3] and s[3] ~= "" then
  node = eligible(s[3])
  if not node then return {"none"} end
  chosen = s[3]
else
  if ARGV[8] ~= "" and redis.call("SISMEMBER", P .. "qa:" .. queue, ARGV[8]) == 1 then
    node = eligible(ARGV[8])
    if node then chosen = ARGV[8] end
  end
  if not chosen then
    local ready = redis.call("ZRANGE", P .. "r:" .. queue, 0, -1)
    if #ready == 0 then return {"noagents"} end
    local declined = P .. "dec:" .. sid
    for pass = 1, 2 do
      for _, aid in ipairs(ready) do
        if pass == 2 or redis.call("SISMEMBER", declined, aid) == 0 then
          node = eligible(aid)
          if node then chosen = aid break end
        end
      end
      if chosen then break end
    end
  end
end
if not chosen then return {"none"} end
local ak = P .. "a:" .. chosen
redis.call("HINCRBY", ak, "load", 1)
-- Rotate: an agent with capacity left goes to the back of the ready line.
redis.call("HSET", ak, "idle_since", now)
redis.call("SADD", P .. "as:" .. chosen, sid)
sync_ready(P, chosen)
redis.call("HSET", sk, "state", "offered", "offer_id", ARGV[5], "offer_agent", chosen,
  "offer_expires", ARGV[7])
redis.call("ZADD", "sb:sched", tonumber(ARGV[7]), "offer|" .. tenant .. "|" .. sid .. "|" .. ARGV[5])
return {"offered", chosen, node}
