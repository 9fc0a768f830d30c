-- Record one consent change of a (channel, account, party) pair, only if it changes the state:
-- an opt-out sets the pair's "o:{party}" field (it stays while the party is opted out), an
-- opt-in removes it. A change is pushed to the ledger lists, newest first: the tenant's, the
-- account's, the pair's and the party's.
-- ARGV: 1 P, 2 channel, 3 account, 4 party, 5 party key (ledger index), 6 "out" | "in",
--       7 ledger entry json (also the opted-out state)
local P, ch, acct, party = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local key = P .. "sms:" .. ch .. ":" .. acct
local changed
if ARGV[6] == "out" then
  changed = redis.call("HSETNX", key, "o:" .. party, ARGV[7])
else
  changed = redis.call("HDEL", key, "o:" .. party)
end
if changed == 1 then
  local entry = ARGV[7]
  redis.call("LPUSH", P .. "cl", entry)
  redis.call("LPUSH", P .. "cl:" .. ch .. ":" .. acct, entry)
  redis.call("LPUSH", P .. "cl:" .. ch .. ":" .. acct .. ":" .. party, entry)
  redis.call("LPUSH", P .. "clp:" .. ARGV[5], entry)
end
return changed
