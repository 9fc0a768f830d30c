-- Live statistics of one queue. ARGV: 1 P, 2 queue, 3 now ms
local P, queue, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local length = redis.call("ZCARD", P .. "w:" .. queue)
local oldest = redis.call("ZRANGE", P .. "w:" .. queue, 0, 0, "WITHSCORES")
local longest = 0
if oldest[2] then longest = now - tonumber(oldest[2]) end
local logged_on, idle, not_ready, working, active = 0, 0, 0, 0, 0
for _, aid in ipairs(redis.call("SMEMBERS", P .. "qa:" .. queue)) do
  local a = redis.call("HMGET", P .. "a:" .. aid, "state", "load")
  if a[1] and a[1] ~= "logged_out" and agent_node(P, aid) ~= "" then
    logged_on = logged_on + 1
    local load = tonumber(a[2] or "0")
    if a[1] == "ready" then
      working = working + 1
      if load == 0 then idle = idle + 1 end
    else
      not_ready = not_ready + 1
    end
    if load > 0 then active = active + 1 end
  end
end
return {length, longest, logged_on, idle, not_ready, working, active}
