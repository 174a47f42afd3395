-- R key record t within keep limit -> {newest earlier records}, then records this one
ops.R = function(op)
  local key, t, within = op[2], op[4], op[5]
  local found = redis.call('ZREVRANGEBYSCORE', key, t, '(' .. (t - within), 'WITHSCORES',
                           'LIMIT', 0, op[7])
  redis.call('ZADD', key, t, op[3])
  trim(key, t, within, op[6])
  return found
end
