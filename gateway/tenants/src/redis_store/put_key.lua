-- Stores a key record and its digest index; a replaced record's old digest stops resolving, in
-- the same atomic step (so no moment when both the old and the new secret work).
--
-- KEYS: the record (key:{id}), the set of ids (keys), the new digest's index (keyhash:{hex}).
-- ARGV: the record's JSON, its id, the digest index's key prefix ({prefix}keyhash:).

local old = redis.call('GET', KEYS[1])
if old then
  local ok, record = pcall(cjson.decode, old)
  if ok and type(record) == 'table' and type(record.secret_hash) == 'string' then
    local old_index = ARGV[3] .. record.secret_hash
    -- Only if it still names this key: another key may have taken the digest since.
    if old_index ~= KEYS[3] and redis.call('GET', old_index) == ARGV[2] then
      redis.call('DEL', old_index)
    end
  end
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('SET', KEYS[3], ARGV[2])
return 1
