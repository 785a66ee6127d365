-- The record of the key whose secret has this digest, in one round trip (the auth path).
--
-- KEYS: the digest's index (keyhash:{hex}).
-- ARGV: the records' key prefix ({prefix}key:).

local id = redis.call('GET', KEYS[1])
if not id then
  return false
end
return redis.call('GET', ARGV[1] .. id)
