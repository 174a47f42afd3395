-- D key t window [values] -> {distinct values in window}
ops.D = function(op)
  local key, t, window = op[2], op[3], op[4]
  for _, value in ipairs(op[5]) do redis.call('ZADD', key, 'GT', t, value) end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. (t - window))
  local count = redis.call('ZCOUNT', key, '(' .. (t - window), '+inf')
  redis.call('EXPIRE', key, math.floor(window * 2 + 60))
  return {count}
end
