-- Admits one request: checks every window, concurrency cap and budget and, only if all pass,
-- charges them all. One script, so atomic and one round trip. Mirrors MemoryStore::admit.
--
-- KEYS: per window 3 (charges zset: request_id scored by charge ms; amounts hash; running sum),
--       then per concurrency cap 1 (leases zset: request_id scored by expiry ms),
--       then per budget 1 (spend counter).
-- ARGV: request_id, now_ms ('' = the server's clock), lease_ms, #windows, #caps, #budgets,
--       then per window: limit, amount; per cap: limit; per budget: hard micros ('' = soft).
-- Returns: {1, remaining, reset_ms per window..., spend per budget...}   admitted
--          {2, window index, remaining, reset_ms, retry_after_ms (-1: never)}
--          {3, cap index}
--          {4, budget index, spent}

local WINDOW = 60000
-- Idle windows vanish a second after their last charge could still count.
local WINDOW_TTL = WINDOW + 1000
local PAGE = 500

local rid = ARGV[1]
local now
if ARGV[2] == '' then
  -- The server's clock: replicas with skewed clocks share one timeline.
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[2])
end
local lease_ms = tonumber(ARGV[3])
local nw, nc, nb = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])

-- Integers as Redis wants them: Lua would print big numbers in exponent form.
local function int(x)
  return string.format('%d', x)
end

-- Calls f with list[i..j] unpacked, in pages (unpack has a stack limit of a few thousand).
local function paged(list, f)
  local i = 1
  while i <= #list do
    local j = math.min(i + PAGE - 1, #list)
    f(unpack(list, i, j))
    i = j + 1
  end
end

-- Drops the charges that have left the window (at + WINDOW <= now); the sum after.
local function expire(z, a, s)
  local old = redis.call('ZRANGEBYSCORE', z, '-inf', int(now - WINDOW))
  if #old > 0 then
    local gone = 0
    paged(old, function(...)
      for _, v in ipairs(redis.call('HMGET', a, ...)) do
        gone = gone + (tonumber(v) or 0)
      end
      redis.call('HDEL', a, ...)
    end)
    redis.call('ZREMRANGEBYSCORE', z, '-inf', int(now - WINDOW))
    if redis.call('ZCARD', z) == 0 then
      -- Empty: start clean rather than trust a sum that could have drifted.
      redis.call('DEL', z, a, s)
      return 0
    end
    return redis.call('DECRBY', s, int(gone))
  end
  return tonumber(redis.call('GET', s) or '0')
end

-- Milliseconds until the oldest charge leaves (0 for an empty window).
local function reset_ms(z)
  local oldest = redis.call('ZRANGE', z, 0, 0, 'WITHSCORES')
  if #oldest == 0 then
    return 0
  end
  return math.max(tonumber(oldest[2]) + WINDOW - now, 0)
end

-- Milliseconds until `needed` more fits under `limit`, walking the oldest charges; -1: never.
local function wait_for(z, a, sum, needed, limit)
  if needed > limit then
    return -1
  end
  local over = sum + needed - limit
  if over <= 0 then
    return 0
  end
  local start = 0
  while true do
    local page = redis.call('ZRANGE', z, start, start + PAGE - 1, 'WITHSCORES')
    if #page == 0 then
      return 0
    end
    local ids = {}
    for i = 1, #page, 2 do
      ids[#ids + 1] = page[i]
    end
    local amounts = redis.call('HMGET', a, unpack(ids))
    for i = 1, #ids do
      over = over - (tonumber(amounts[i]) or 0)
      if over <= 0 then
        return math.max(tonumber(page[2 * i]) + WINDOW - now, 0)
      end
    end
    start = start + PAGE
  end
end

local sums = {}
for i = 1, nw do
  local z, a, s = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  local limit, amount = tonumber(ARGV[5 + 2 * i]), tonumber(ARGV[6 + 2 * i])
  local sum = expire(z, a, s)
  if sum + amount > limit then
    return {2, i, math.max(limit - sum, 0), reset_ms(z), wait_for(z, a, sum, amount, limit)}
  end
  sums[i] = sum
end

local kc = 3 * nw
local ac = 6 + 2 * nw
for j = 1, nc do
  local l = KEYS[kc + j]
  redis.call('ZREMRANGEBYSCORE', l, '-inf', int(now))
  if redis.call('ZCARD', l) >= tonumber(ARGV[ac + j]) then
    return {3, j}
  end
end

local kb = kc + nc
local ab = ac + nc
local spent = {}
for k = 1, nb do
  local s = tonumber(redis.call('GET', KEYS[kb + k]) or '0')
  local hard = ARGV[ab + k]
  if hard ~= '' and s >= tonumber(hard) then
    return {4, k, s}
  end
  spent[k] = s
end

-- Every check passed: charge them all.
local reply = {1}
for i = 1, nw do
  local z, a, s = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  local limit, amount = tonumber(ARGV[5 + 2 * i]), ARGV[6 + 2 * i]
  -- A request id charged twice replaces its charge (so a retried admission is not counted twice).
  local before = redis.call('HGET', a, rid)
  if before then
    redis.call('DECRBY', s, before)
  end
  redis.call('ZADD', z, int(now), rid)
  redis.call('HSET', a, rid, amount)
  local sum = redis.call('INCRBY', s, amount)
  for _, key in ipairs({z, a, s}) do
    redis.call('PEXPIRE', key, WINDOW_TTL)
  end
  reply[#reply + 1] = math.max(limit - sum, 0)
  reply[#reply + 1] = reset_ms(z)
end
for j = 1, nc do
  local l = KEYS[kc + j]
  redis.call('ZADD', l, int(now + lease_ms), rid)
  -- The set lives as long as its longest lease (plus a second).
  if redis.call('PTTL', l) < lease_ms + 1000 then
    redis.call('PEXPIRE', l, int(lease_ms + 1000))
  end
end
for k = 1, nb do
  reply[#reply + 1] = spent[k]
end
return reply
