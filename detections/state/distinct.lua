-- D key t window [values] -> {distinct values in window}
-- Within one batch, a key's answer is reused while nothing moved it: the same time as its last
-- operation and no value added or moved later (`at` remembers the latest time this batch wrote
-- per value, so a value already written at t or later needs no ZADD GT, which would change
-- nothing). Only this script writes the key during the call, so the reuse is exact.
local distinct_at, distinct_t, distinct_n, distinct_w = {}, {}, {}, {}
local function distinct(key, t, window, values)
  local at = distinct_at[key]
  if at == nil then
    at = {}
    distinct_at[key] = at
  end
  local moved = false
  for _, value in ipairs(values) do
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
ops.D = function(op)
  return distinct(op[2], op[3], op[4], op[5])
end
-- A fold (stride 3: t window values) runs each operation in turn, without building it anew.
folds.D = function(key, op, stride)
  if stride ~= 3 then return each('D', key, op, stride) end
  local out = {}
  for base = 4, #op - 1, 3 do
    out[#out + 1] = distinct(key, op[base + 1], op[base + 2], op[base + 3])
  end
  return out
end
