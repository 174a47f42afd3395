-- F key value owner ttl -> {1 if owner brought value first, values known}
-- The key's expiry is set once, at the end of the batch (keys do not expire while a script
-- runs, so that equals setting it after every operation). A fold of one key's operations runs
-- each in turn (the script's generic fold).
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
finish[#finish + 1] = function()
  for key, ttl in pairs(seen_ttl) do redis.call('EXPIRE', key, ttl) end
end
