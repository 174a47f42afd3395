-- J key record t within keep limit [others] -> {records of the other sides within +-within}
ops.J = function(op)
  local key, t, within = op[2], op[4], op[5]
  redis.call('ZADD', key, t, op[3])
  trim(key, t, within, op[6])
  local found = {}
  for _, other in ipairs(op[8]) do
    local got = redis.call('ZRANGEBYSCORE', other, t - within, t + within, 'WITHSCORES',
                           'LIMIT', 0, op[7])
    for _, v in ipairs(got) do found[#found + 1] = v end
  end
  return found
end
