-- T key member t window weight need -> {events in (t - window, t], events this one stands for}
-- An event of weight n is n members (member, member#2, ..., member#n). It raises a signal
-- when its window holds `need` events, or when it falls inside the window of a crossing
-- already seen (it arrived late: another worker, or out of order). The signal stands for
-- itself and for the window's earlier events that raised none (`pending`, then `absorbed`),
-- each counted once, so the alert's count is exact however the events are shared out. A
-- member seen before (a redelivery) gets the answer it got the first time.
-- Within one batch, the window count of a key is carried from its last operation when this
-- one has the same time and window and only added its own new members (each scored t, inside
-- (t - window, t]): the last count plus the members added, without a ZCOUNT. Only this script
-- writes the key during the call, so that equals what ZCOUNT would answer.
local hot_at, hot_ttl, pending_n = {}, {}, {}
local counted_t, counted_w, counted_n = {}, {}, {}
ops.T = function(op)
  local key, member, t, window, weight, need = op[2], op[3], op[4], op[5], op[6] or 1, op[7]
  local pending, absorbed, stands_of = key .. ':pending', key .. ':absorbed', key .. ':n'
  local ttl = math.floor(window * 2 + 60)
  if redis.call('ZADD', key, t, member) == 0 then
    counted_t[key] = nil  -- a member seen before may have moved to this time: count afresh
    if redis.call('ZSCORE', pending, member) or redis.call('ZSCORE', absorbed, member) then
      return {0, 0}
    end
    return {need, tonumber(redis.call('HGET', stands_of, member) or weight)}
  end
  local members, added = {member}, 1
  for i = 2, weight do
    members[i] = member .. '#' .. i
    added = added + redis.call('ZADD', key, t, members[i])
  end
  later(key, t, window, ttl)
  local count
  if counted_t[key] == t and counted_w[key] == window and added == weight then
    count = counted_n[key] + weight
  else
    count = redis.call('ZCOUNT', key, '(' .. (t - window), t)
  end
  counted_t[key], counted_w[key], counted_n[key] = t, window, count
  local hot = hot_at[key]
  if hot == nil then
    hot = tonumber(redis.call('GET', key .. ':hot') or '') or false
    hot_at[key] = hot
  end
  local waiting = pending_n[key]
  if waiting == nil then
    waiting = redis.call('ZCARD', pending)
    pending_n[key] = waiting
  end
  if count < need and not (hot and t <= hot and t > hot - window) then
    for _, m in ipairs(members) do waiting = waiting + redis.call('ZADD', pending, t, m) end
    pending_n[key] = waiting
    later(pending, t, window, ttl)
    return {count, 0}
  end
  if count >= need and (not hot or t > hot) then
    hot_at[key], hot_ttl[key] = t, ttl
  end
  local stands = weight
  if waiting > 0 then
    local low = '(' .. (t - window)
    local earlier = redis.call('ZRANGEBYSCORE', pending, low, t, 'WITHSCORES')
    if #earlier > 0 then
      stands = weight + #earlier / 2
      for j = 1, #earlier, 2 do redis.call('ZADD', absorbed, earlier[j + 1], earlier[j]) end
      redis.call('ZREMRANGEBYSCORE', pending, low, t)
      pending_n[key] = waiting - #earlier / 2
      later(absorbed, t, window * 2, ttl)
    end
  end
  if stands ~= 1 then
    redis.call('HSET', stands_of, member, stands)
    redis.call('EXPIRE', stands_of, ttl)
  end
  return {count, stands}
end
finish[#finish + 1] = function()
  for key, ttl in pairs(hot_ttl) do redis.call('SET', key .. ':hot', hot_at[key], 'EX', ttl) end
end
