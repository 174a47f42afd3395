-- K key member t window title threshold min -> {0}; on the first crossing in a window
--   {1, total, member, score, title, ...}; after it {2, total, rules} (the alert has the list)
ops.K = function(op)
  local key, member, t, window = op[2], op[3], op[4], op[5]
  local titles = key .. ':titles'
  local old = redis.call('ZSCORE', key, member)
  local fresh = (not old) or tonumber(old) <= t - window
  redis.call('ZADD', key, 'GT', t, member)
  redis.call('HSET', titles, member, op[6])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. (t - window))
  redis.call('EXPIRE', key, math.floor(window * 2 + 60))
  redis.call('EXPIRE', titles, math.floor(window * 2 + 60))
  if not fresh then return {0} end
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
    redis.call('SET', key .. ':crossed', t, 'EX', math.floor(window * 2 + 60))
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
