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
-- A fold of a key's operations (stride 5: member t window weight need) whose members are all
-- new (ZMSCORE: none in the window's set yet, none twice) and of weight 1 does not ZADD them one
-- by one: each is queued and the queue is written in one ZADD before the key is read (ZCOUNT)
-- and at the end of the fold. A new member's ZADD answers 1, and the key is read only by ZCOUNT,
-- so every step sees what the single operations would have seen. Any other fold runs them one
-- at a time.
local hot_at, hot_ttl, pending_n = {}, {}, {}
local counted_t, counted_w, counted_n = {}, {}, {}
local function flush(key, queued)
  if #queued > 0 then
    redis.call('ZADD', key, unpack(queued))
    for i = #queued, 1, -1 do queued[i] = nil end
  end
end
-- One operation; `queued` (a fold's queue) when the member is known new and of weight 1.
local function threshold(key, member, t, window, weight, need, queued)
  local pending, absorbed, stands_of = key .. ':pending', key .. ':absorbed', key .. ':n'
  local ttl = math.floor(window * 2 + 60)
  local members, added = {member}, 1
  if queued then
    queued[#queued + 1] = t
    queued[#queued + 1] = member
    if #queued >= 2000 then flush(key, queued) end
  else
    if redis.call('ZADD', key, t, member) == 0 then
      counted_t[key] = nil  -- a member seen before may have moved to this time: count afresh
      if redis.call('ZSCORE', pending, member) or redis.call('ZSCORE', absorbed, member) then
        return {0, 0}
      end
      return {need, tonumber(redis.call('HGET', stands_of, member) or weight)}
    end
    for i = 2, weight do
      members[i] = member .. '#' .. i
      added = added + redis.call('ZADD', key, t, members[i])
    end
  end
  later(key, t, window, ttl)
  local count
  if counted_t[key] == t and counted_w[key] == window and added == weight then
    count = counted_n[key] + weight
  else
    if queued then flush(key, queued) end
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
ops.T = function(op)
  return threshold(op[2], op[3], op[4], op[5], op[6] or 1, op[7], nil)
end
folds.T = function(key, op, stride)
  if stride ~= 5 then return each('T', key, op, stride) end
  local members, seen, fresh = {}, {}, true
  for base = 4, #op - 1, 5 do
    local member = op[base + 1]
    if (op[base + 4] or 1) ~= 1 or seen[member] then
      fresh = false
      break
    end
    seen[member] = true
    members[#members + 1] = member
  end
  for from = 1, fresh and #members or 0, 1000 do
    local known = redis.call('ZMSCORE', key, unpack(members, from, math.min(from + 999, #members)))
    for j = 1, #known do
      if known[j] then fresh = false end
    end
  end
  local out, queued = {}, fresh and {} or nil
  for base = 4, #op - 1, 5 do
    local member, t, window, need = op[base + 1], op[base + 2], op[base + 3], op[base + 5]
    local count = queued and counted_t[key] == t and counted_w[key] == window
                  and pending_n[key] == 0 and hot_at[key] ~= nil and counted_n[key] + 1
    if count and count >= need then
      -- A storm's usual step, what threshold() does for it written out: a new member of
      -- weight 1 at the time and window of the key's last operation (its count carried, its
      -- upkeep already noted at that time), nothing pending, the window already crossed.
      queued[#queued + 1] = t
      queued[#queued + 1] = member
      if #queued >= 2000 then flush(key, queued) end
      counted_n[key] = count
      local hot = hot_at[key]
      if not hot or t > hot then
        hot_at[key], hot_ttl[key] = t, math.floor(window * 2 + 60)
      end
      out[#out + 1] = {count, 1}
    else
      out[#out + 1] = threshold(key, member, t, window, op[base + 4] or 1, need, queued)
    end
  end
  if queued then flush(key, queued) end
  return out
end
finish[#finish + 1] = function()
  for key, ttl in pairs(hot_ttl) do redis.call('SET', key .. ':hot', hot_at[key], 'EX', ttl) end
end
