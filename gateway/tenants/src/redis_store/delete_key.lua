-- Deletes a key record, its id from the set and its digest index, atomically.
--
-- KEYS: the record (key:{id}), the set of ids (keys).
-- ARGV: its id, the digest index's key prefix ({prefix}keyhash:).
-- Returns 1 if it existed, else 0.

local old = redis.call('GET', KEYS[1])
if not old then
  return 0
end
local ok, record = pcall(cjson.decode, old)
if ok and type(record) == 'table' and type(record.secret_hash) == 'string' then
  local index = ARGV[2] .. record.secret_hash
  if redis.call('GET', index) == ARGV[1] then
    redis.call('DEL', index)
  end
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return 1
