-- D key t window [values] -> {distinct values in window}
ops.D = function(op)
  local key, t, window = op[2], op[3], op[4]
  for _, value in ipairs(op[5]) do redis.call('ZADD', key, 'GT', t, value) end
  later(key, t, window, math.floor(window * 2 + 60))
  return {redis.call('ZCOUNT', key, '(' .. (t - window), '+inf')}
end
