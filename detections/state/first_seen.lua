-- F key value owner ttl -> {1 if owner brought value first, values known}
-- The key's expiry is set once, at the end of the batch (keys do not expire while a script
-- runs, so that equals setting it after every operation). A fold of one key's operations
-- (stride 3: value owner ttl) runs each in turn.
local seen_ttl = {}
local function first_seen(key, value, owner, ttl)
  local mine = redis.call('HSETNX', key, value, owner) == 1
  if not mine then
    mine = redis.call('HGET', key, value) == owner  -- a redelivery still finds itself owner
  end
  seen_ttl[key] = math.floor(ttl)
  return {mine and 1 or 0, redis.call('HLEN', key)}
end
ops.F = function(op)
  return first_seen(op[2], op[3], op[4], op[5])
end
folds.F = function(key, op, stride)
  if stride ~= 3 then return each('F', key, op, stride) end
  local out = {}
  for base = 4, #op - 1, 3 do
    out[#out + 1] = first_seen(key, op[base + 1], op[base + 2], op[base + 3])
  end
  return out
end
finish[#finish + 1] = function()
  for key, ttl in pairs(seen_ttl) do redis.call('EXPIRE', key, ttl) end
end
