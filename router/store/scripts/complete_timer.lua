-- Remove a leased timer unless it was re-armed meanwhile (its score changed).
-- ARGV: 1 member, 2 leased score
local score = redis.call("ZSCORE", "sb:sched", ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then
  redis.call("ZREM", "sb:sched", ARGV[1])
  return {1}
end
return {0}
