-- Group a batch's signals into alerts: one call for the whole batch, every alert written once.
-- KEYS: open-alert index, alerts stream, dirty marks of the notifier, muted counts; then, only
--   declared (for Redis Cluster), each group's dedup key, new alert's keys and mute keys
-- ARGV[1]: JSON {prefix (of alert keys), now, ttl, recent, maxlen, announce, groups}; a group is
--   {rule, dedup (key), window, ts (its first signal's time), first, last (its times),
--    evs (event id per signal, and per event merged into one), adds (per entry of evs, or
--    absent: all 1), count (the first signal's count when it opens an alert), rank, severity,
--    title, context (its most severe signal), id (the new alert's id), fields (the new alert's
--    field pairs), mutes ({key, name} pairs)}
-- Reply: JSON [[alert id, outcome], ...] per group; outcome new, severity (raised), updated (the count
-- grew: the alert is marked dirty for the notifier), duplicate (nothing new) or muted.
-- A signal is counted once: its id (rule:event id) joins the alert's signal set, and only a
-- signal new to the set adds to the count; a redelivered batch adds nothing.
local batch = cjson.decode(ARGV[1])
local open_index, stream, dirty, muted = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local out = {}

local function announce(alert_id, kind)
  if batch.announce then
    redis.call('XADD', stream, 'MAXLEN', '~', batch.maxlen, '*', 'alert_id', alert_id,
               'kind', kind)
  end
end

-- Add the group's signals that the alert has not counted yet; the events they add.
local function add_signals(akey, g, opening)
  local set, ids = akey .. ':signals', {}
  for j, ev in ipairs(g.evs) do ids[j] = g.rule .. ':' .. ev end
  local added, fresh, pushed = 0, {}, {}
  for from = 1, #ids, 1000 do
    local upto = math.min(from + 999, #ids)
    local known = redis.call('SMISMEMBER', set, unpack(ids, from, upto))
    for j = from, upto do
      local id = ids[j]
      if known[j - from + 1] == 0 and not fresh[id] then
        fresh[id] = true
        local n = 1
        if opening and j == 1 then n = g.count elseif g.adds then n = g.adds[j] end
        added = added + n
        pushed[#pushed + 1] = j
      end
    end
  end
  for from = 1, #pushed, 1000 do
    local batch_ids = {}
    for j = from, math.min(from + 999, #pushed) do batch_ids[#batch_ids + 1] = ids[pushed[j]] end
    redis.call('SADD', set, unpack(batch_ids))
  end
  if #pushed > 0 then
    local events, newest = akey .. ':events', {}
    for j = math.max(1, #pushed - batch.recent + 1), #pushed do
      newest[#newest + 1] = g.evs[pushed[j]]
    end
    redis.call('LPUSH', events, unpack(newest))
    redis.call('LTRIM', events, 0, batch.recent - 1)
  end
  return added
end

local function raise(akey, g)
  local rank = tonumber(redis.call('HGET', akey, 'severity_rank') or '0')
  if g.rank > rank then
    redis.call('HSET', akey, 'severity_rank', g.rank, 'severity', g.severity,
               'title', g.title, 'context', g.context)
    return true
  end
  return false
end

local function record(g)
  for _, mute in ipairs(g.mutes) do
    if redis.call('EXISTS', mute[1]) == 1 then
      redis.call('HINCRBY', muted, mute[2], #g.evs)
      return {'', 'muted'}
    end
  end
  local existing = redis.call('GET', g.dedup)
  if existing then
    local akey = batch.prefix .. existing
    local state = redis.call('HMGET', akey, 'last_seen', 'status', 'first_seen')
    local last, status = tonumber(state[1]), state[2]
    if last and (status == 'open' or status == 'acknowledged') and g.ts - last <= g.window then
      local added = add_signals(akey, g, false)
      if added == 0 then return {existing, 'duplicate'} end
      redis.call('HINCRBY', akey, 'count', added)
      if g.last > last then redis.call('HSET', akey, 'last_seen', g.last) end
      if g.first < tonumber(state[3]) then redis.call('HSET', akey, 'first_seen', g.first) end
      redis.call('EXPIRE', g.dedup, g.window * 2 + 86400)
      -- A more severe signal raises the alert and brings its own title and context: an SSH
      -- port opened after an HTTPS one makes the alert about SSH.
      if raise(akey, g) then
        announce(existing, 'severity')
        return {existing, 'severity'}
      end
      if batch.announce then redis.call('HINCRBY', dirty, existing, 1) end
      return {existing, 'updated'}
    end
  end
  local akey = batch.prefix .. g.id
  redis.call('HSET', akey, unpack(g.fields))
  local added = add_signals(akey, g, true)
  redis.call('HSET', akey, 'count', added, 'first_seen', g.first, 'last_seen', g.last)
  raise(akey, g)
  redis.call('SET', g.dedup, g.id, 'EX', g.window * 2 + 86400)
  redis.call('ZADD', open_index, g.ts, g.id)
  for _, key in ipairs({akey, akey .. ':signals', akey .. ':events'}) do
    redis.call('EXPIRE', key, batch.ttl)
  end
  announce(g.id, 'new')
  return {g.id, 'new'}
end

for i, g in ipairs(batch.groups) do
  out[i] = record(g)
end
return cjson.encode(out)
