-- T key member t window -> {events in (t - window, t]}
ops.T = function(op)
  local key, t, window = op[2], op[4], op[5]
  redis.call('ZADD', key, t, op[3])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. (t - window))
  local count = redis.call('ZCOUNT', key, '(' .. (t - window), t)
  redis.call('EXPIRE', key, math.floor(window * 2 + 60))
  return {count}
end
