-- Counts a group of events of one student on one day, each exactly once.
-- KEYS: profile, event ids of the day, counts of the month, data version.
-- ARGV: day of month, lifetime of the ids set (seconds), then pairs of
-- event id and activity index (1-based).
-- Returns {-1} for a student not in the roster; else one 1 (counted) or
-- 0 (already counted) per event.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {-1}
end
local n = 10
local counts = {}
for i = 1, n do counts[i] = 0 end
local packed = redis.call('HGET', KEYS[3], ARGV[1])
if packed then
  local i = 1
  for v in string.gmatch(packed, '[^,]+') do
    counts[i] = tonumber(v)
    i = i + 1
  end
end
local result = {}
local changed = false
for j = 3, #ARGV, 2 do
  if redis.call('SADD', KEYS[2], ARGV[j]) == 1 then
    local a = tonumber(ARGV[j + 1])
    counts[a] = counts[a] + 1
    changed = true
    result[#result + 1] = 1
  else
    result[#result + 1] = 0
  end
end
redis.call('EXPIRE', KEYS[2], ARGV[2])
if changed then
  local last = n
  while last > 1 and counts[last] == 0 do last = last - 1 end
  local out = {}
  for i = 1, last do out[i] = tostring(counts[i]) end
  redis.call('HSET', KEYS[3], ARGV[1], table.concat(out, ','))
  redis.call('INCR', KEYS[4])
end
return result
