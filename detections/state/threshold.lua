-- T key member t window weight -> {events in (t - window, t]}; an event of weight n is n
-- members (member, member#2, ..., member#n)
ops.T = function(op)
  local key, t, window = op[2], op[4], op[5]
  redis.call('ZADD', key, t, op[3])
  for i = 2, tonumber(op[6] or 1) do
    redis.call('ZADD', key, t, op[3] .. '#' .. i)
  end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. (t - window))
  local count = redis.call('ZCOUNT', key, '(' .. (t - window), t)
  redis.call('EXPIRE', key, math.floor(window * 2 + 60))
  return {count}
end
