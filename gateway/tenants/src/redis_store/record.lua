-- Settles requests: corrects window charges, releases leases, adds spend and usage. One script,
-- so atomic and one round trip; `reconcile` uses it with no corrections and no releases.
--
-- KEYS: per correction 3 (charges zset, amounts hash, running sum), per release 1 (leases
--       zset), per spend 1 (counter), per usage record 3 (bucket hash, the key's index, the
--       global index).
-- ARGV: request_id, #corrections, #releases, #spends, #records,
--       then per correction: amount; per spend: micros;
--       per record: hour, key_id, model, has_team (0/1), team, then the 7 totals in
--       Totals::FIELDS order.

-- Usage is kept 35 days (usage::USAGE_RETENTION_SECS): buckets expire, and index entries older
-- than that before the hour being written are dropped.
local RETENTION = 35 * 24 * 3600

local FIELDS = {'requests', 'prompt_tokens', 'completion_tokens', 'image_pixels', 'audio_ms',
  'video_frames', 'spend_micros'}

local rid = ARGV[1]
local nc, nr, ns, nu = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local k, a = 0, 5

for _ = 1, nc do
  local amounts, sum = KEYS[k + 2], KEYS[k + 3]
  local amount = ARGV[a + 1]
  local before = redis.call('HGET', amounts, rid)
  -- Only a charge still in the window is corrected; one that left it counts for nothing.
  if before then
    redis.call('HSET', amounts, rid, amount)
    redis.call('INCRBY', sum, string.format('%d', tonumber(amount) - tonumber(before)))
  end
  k, a = k + 3, a + 1
end

for _ = 1, nr do
  redis.call('ZREM', KEYS[k + 1], rid)
  k = k + 1
end

for _ = 1, ns do
  redis.call('INCRBY', KEYS[k + 1], ARGV[a + 1])
  k, a = k + 1, a + 1
end

for _ = 1, nu do
  local bucket, by_key, all = KEYS[k + 1], KEYS[k + 2], KEYS[k + 3]
  local hour = ARGV[a + 1]
  redis.call('HSET', bucket, 'hour', hour, 'key_id', ARGV[a + 2], 'model', ARGV[a + 3])
  if ARGV[a + 4] == '1' then
    redis.call('HSET', bucket, 'team', ARGV[a + 5])
  else
    redis.call('HSETNX', bucket, 'team', '')
  end
  for f = 1, #FIELDS do
    redis.call('HINCRBY', bucket, FIELDS[f], ARGV[a + 5 + f])
  end
  redis.call('EXPIRE', bucket, RETENTION)
  -- The indexes let `usage` list a key's (or everyone's) buckets by hour without a SCAN.
  redis.call('ZADD', by_key, hour, bucket)
  redis.call('ZADD', all, hour, bucket)
  local cutoff = tonumber(hour) - RETENTION
  redis.call('ZREMRANGEBYSCORE', by_key, '-inf', '(' .. cutoff)
  redis.call('ZREMRANGEBYSCORE', all, '-inf', '(' .. cutoff)
  k, a = k + 3, a + 5 + #FIELDS
end

return 1
