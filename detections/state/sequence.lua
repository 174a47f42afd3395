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
-- A fold of A events only (stride 5: 'first' record t within keep) writes them in one ZADD
-- (in order, so a record given twice keeps its last time, as one ZADD each would); nothing
-- reads the key in between.
folds.S = function(key, op, stride)
  local out, args = {}, {}
  for base = 4, #op - 1, stride do
    if stride ~= 5 or op[base + 1] ~= 'first' then return each('S', key, op, stride) end
  end
  -- The upkeep keeps the first operation's span and the latest time: noted once for the first
  -- and once for the latest, as noting each in turn would leave it.
  trim(key, op[7], op[8], op[9])
  local latest, answer = op[7], {}
  for base = 4, #op - 1, 5 do
    local t = op[base + 3]
    args[#args + 1] = t
    args[#args + 1] = op[base + 2]
    if #args >= 2000 then
      redis.call('ZADD', key, unpack(args))
      args = {}
    end
    if t > latest then latest = t end
    out[#out + 1] = answer  -- the same empty answer for each
  end
  if #args > 0 then redis.call('ZADD', key, unpack(args)) end
  trim(key, latest, op[8], op[9])
  return out
end
