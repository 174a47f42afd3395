-- S key 'first' record t within keep -> {}                  (remember an A event)
-- S key 'then' t within limit        -> {A events in window, {newest records}}
ops.S = function(op)
  local key = op[2]
  if op[3] == 'first' then
    redis.call('ZADD', key, op[5], op[4])
    trim(key, op[5], op[6], op[7])
    return {}
  end
  local t, within = op[4], op[5]
  return {redis.call('ZCOUNT', key, '(' .. (t - within), t),
          redis.call('ZREVRANGEBYSCORE', key, t, '(' .. (t - within), 'WITHSCORES',
                     'LIMIT', 0, op[6])}
end
