-- Counts groups of events, each group one student on one day, each event
-- exactly once. On a Redis Cluster every key of one call is on one slot.
-- KEYS: per group, four: profile, event ids of the day, counts of the
-- month, data version.
-- ARGV: per group: day of month, lifetime of the ids set (seconds), the
-- number of events, then pairs of event id and activity index (1-based).
-- Returns per group {-1} for a student not in the roster; else one 1
-- (counted) or 0 (already counted) per event.
local n = 10
local results = {}
local a = 1
for g = 0, #KEYS / 4 - 1 do
  local profile, ids, month, version = KEYS[4*g+1], KEYS[4*g+2], KEYS[4*g+3], KEYS[4*g+4]
  local dom, ttl, events = ARGV[a], ARGV[a+1], tonumber(ARGV[a+2])
  local first, last = a + 3, a + 2 + 2 * events
  a = last + 1
  if redis.call('EXISTS', profile) == 0 then
    results[g+1] = {-1}
  else
    local counts = {}
    for i = 1, n do counts[i] = 0 end
    local packed = redis.call('HGET', month, dom)
    if packed then
      local i = 1
      for v in string.gmatch(packed, '[^,]+') do
        counts[i] = tonumber(v)
        i = i + 1
      end
    end
    local result = {}
    local changed = false
    for j = first, last, 2 do
      -- A scoped id ("source/id") is also held when its bare id was
      -- counted before ids were scoped.
      local bare = string.match(ARGV[j], '^[^/]+/(.+)$')
      if (not bare or redis.call('SISMEMBER', ids, bare) == 0) and redis.call('SADD', ids, ARGV[j]) == 1 then
        local k = tonumber(ARGV[j + 1])
        counts[k] = counts[k] + 1
        changed = true
        result[#result + 1] = 1
      else
        result[#result + 1] = 0
      end
    end
    redis.call('EXPIRE', ids, ttl)
    if changed then
      local top = n
      while top > 1 and counts[top] == 0 do top = top - 1 end
      local out = {}
      for i = 1, top do out[i] = tostring(counts[i]) end
      redis.call('HSET', month, dom, table.concat(out, ','))
      redis.call('INCR', version)
    end
    results[g+1] = result
  end
end
return results
