-- D key t window [values] -> {distinct values in window}
-- Within one batch, a key's answer is reused while nothing moved it: the same time as its last
-- operation and no value added or moved later (`at` remembers the latest time this batch wrote
-- per value, so a value already written at t or later needs no ZADD GT, which would change
-- nothing). Only this script writes the key during the call, so the reuse is exact.
local distinct_at, distinct_t, distinct_n, distinct_w = {}, {}, {}, {}
ops.D = function(op)
  local key, t, window = op[2], op[3], op[4]
  local at = distinct_at[key]
  if at == nil then
    at = {}
    distinct_at[key] = at
  end
  local moved = false
  for _, value in ipairs(op[5]) do
    local was = at[value]
    if was == nil or was < t then
      redis.call('ZADD', key, 'GT', t, value)
      at[value] = t
      moved = true
    end
  end
  later(key, t, window, math.floor(window * 2 + 60))
  if moved or distinct_t[key] ~= t or distinct_w[key] ~= window then
    distinct_n[key] = redis.call('ZCOUNT', key, '(' .. (t - window), '+inf')
    distinct_t[key], distinct_w[key] = t, window
  end
  return {distinct_n[key]}
end
