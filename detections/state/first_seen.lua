-- F key value owner ttl -> {1 if owner brought value first, values known}
ops.F = function(op)
  local key = op[2]
  redis.call('HSETNX', key, op[3], op[4])
  local owner = redis.call('HGET', key, op[3])
  local known = redis.call('HLEN', key)
  redis.call('EXPIRE', key, math.floor(op[5]))
  return {owner == op[4] and 1 or 0, known}
end
