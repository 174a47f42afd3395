-- Every stateful operation of one batch of events, run in order in one call (one round trip,
-- one command to encode and one reply to parse, however many rules matched). ARGV[1] is a JSON
-- list of operations, each {code, key, ...}; the reply has one entry per operation, the answer
-- of the step registered for its code (ops.<code>, one per state kind).
-- Records are "<event id>\x1f<json context>" members scored by event time.
local ops = {}
local function trim(key, t, within, keep)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. (t - within * 2))
  redis.call('ZREMRANGEBYRANK', key, 0, -keep - 1)
  redis.call('EXPIRE', key, math.floor(within * 2 + 60))
end
-- (the steps of every kind go here)
local out = {}
for i, op in ipairs(cjson.decode(ARGV[1])) do
  local step = ops[op[1]]
  if step == nil then
    return redis.error_reply('unknown state operation ' .. tostring(op[1]))
  end
  out[i] = step(op)
end
return out
