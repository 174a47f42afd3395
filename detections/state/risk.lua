-- K key member t window title threshold min -> {0}; on the first crossing in a window
--   {1, total, member, score, title, ...}; after it {2, total, rules} (the alert has the list)
-- A signal can only cross when its entity's set holds at least `min` members (one per rule and
-- severity) and could score the threshold: with fewer, it answers {0} without summing (a flood
-- of signals about ever new entities, one rule each, asks nothing more of Redis). A new entity
-- has nothing to look up or trim.
local risk_most = 0
for _, p in pairs(points) do risk_most = math.max(risk_most, p) end
ops.K = function(op)
  local key, member, t, window = op[2], op[3], op[4], op[5]
  local titles, ttl = key .. ':titles', math.floor(window * 2 + 60)
  local size = redis.call('ZCARD', key)
  local fresh = true
  if size > 0 then
    local old = redis.call('ZSCORE', key, member)
    fresh = (not old) or tonumber(old) <= t - window
  end
  if redis.call('ZADD', key, 'GT', t, member) == 1 then size = size + 1 end
  redis.call('HSET', titles, member, op[6])
  if size > 1 then
    size = size - redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. (t - window))
  end
  redis.call('EXPIRE', key, ttl)
  redis.call('EXPIRE', titles, ttl)
  if not fresh or size < op[8] or size * risk_most < op[7] then return {0} end
  local members = redis.call('ZRANGEBYSCORE', key, '(' .. (t - window), '+inf', 'WITHSCORES')
  local best, rules, total = {}, 0, 0
  for j = 1, #members, 2 do
    local m = members[j]
    local cut = string.find(m, string.char(31), 1, true)
    local rule, p = string.sub(m, 1, cut - 1), points[string.sub(m, cut + 1)] or 0
    if best[rule] == nil then
      best[rule], rules, total = p, rules + 1, total + p
    elseif p > best[rule] then
      total, best[rule] = total + p - best[rule], p
    end
  end
  local crossed = tonumber(redis.call('GET', key .. ':crossed') or '-1e18')
  if total >= op[7] and rules >= op[8] and t - crossed < window then
    return {2, total, rules}
  elseif total >= op[7] and rules >= op[8] then
    redis.call('SET', key .. ':crossed', t, 'EX', ttl)
    local reply = {1, total}
    for j = 1, #members, 2 do
      reply[#reply + 1] = members[j]
      reply[#reply + 1] = members[j + 1]
      reply[#reply + 1] = redis.call('HGET', titles, members[j]) or ''
    end
    return reply
  end
  return {0}
end
