-- Every stateful operation of one batch of events, run in order in one call (one round trip,
-- one command to encode and one reply to parse, however many rules matched). ARGV[1] is a
-- MessagePack list of operations, each {code, key, ...}; the reply is a MessagePack list with
-- one entry per operation, the answer of the step registered for its code (ops.<code>, one per
-- state kind). MessagePack rather than JSON: it is built into Redis's Lua as well (cmsgpack)
-- and a storm's batch decodes several times faster. KEYS lists the operations' keys once each,
-- for Redis Cluster to route the call (a kind's helper keys, such as Threshold's ``:pending``
-- beside its window, are named from them and share their {soc} hash tag, hence their slot).
-- Records are "<event id>\x1f<json context>" members scored by event time.
local ops = {}
-- A fold: the operations of one kind on one key, in their order, as one operation
-- {'*', code, key, stride, <arguments after the key of the first>, <of the second>, ...}, each
-- `stride` long; its reply is the list of their replies. A kind whose steps touch only the
-- state of their own key may be folded (the engine does it: the key travels once per batch);
-- folds.<code>(key, op, stride) runs a whole fold when the kind has one, otherwise every
-- operation of the fold runs through its own step, in order.
local folds = {}
local function each(code, key, op, stride)
  local step, out = ops[code], {}
  for base = 4, #op - 1, stride do
    local one = {code, key}
    for j = 1, stride do one[j + 2] = op[base + j] end
    out[#out + 1] = step(one)
  end
  return out
end
ops['*'] = function(op)
  local code, key, stride = op[2], op[3], op[4]
  if ops[code] == nil then error('unknown state operation ' .. tostring(code)) end
  local fold = folds[code]
  if fold ~= nil then return fold(key, op, stride) end
  return each(code, key, op, stride)
end
-- Upkeep (dropping members older than the newest time seen minus a span, keeping the newest
-- `keep`, the expiry) runs once per key at the end of the batch: reads in the batch never see
-- what the upkeep drops, so doing it once equals doing it after every operation.
local upkeep = {}
local function later(key, t, span, ttl, keep)
  local u = upkeep[key]
  if u == nil then
    upkeep[key] = {t, span, ttl, keep}
  elseif t > u[1] then
    u[1] = t
  end
end
-- Steps a kind runs once at the end of the batch (after the upkeep).
local finish = {}
local function trim(key, t, within, keep)
  later(key, t, within * 2, math.floor(within * 2 + 60), keep)
end
-- (the steps of every kind go here)
local out = {}
for i, op in ipairs(cmsgpack.unpack(ARGV[1])) do
  local step = ops[op[1]]
  if step == nil then
    return redis.error_reply('unknown state operation ' .. tostring(op[1]))
  end
  out[i] = step(op)
end
for key, u in pairs(upkeep) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. (u[1] - u[2]))
  if u[4] then redis.call('ZREMRANGEBYRANK', key, 0, -u[4] - 1) end
  redis.call('EXPIRE', key, u[3])
end
for _, step in ipairs(finish) do step() end
return cmsgpack.pack(out)
