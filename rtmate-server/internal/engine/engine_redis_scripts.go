package engine

import "github.com/redis/rueidis"

// publishScript orders, records and distributes one publication in a single step, so that
// Redis alone decides a channel's order: the offset a message gets is the order in which every
// node receives it, and no reader can see an offset in history before or after it is
// published.
//
// KEYS: meta, stream. ARGV: topic, body, history size, history TTL seconds (0 = none),
// meta TTL seconds (0 = none), publish command (SPUBLISH or PUBLISH), lineage check ("1" in
// cluster and sentinel modes, see lineageLua). Returns {offset, epoch}.
//
// The epoch is created with the meta hash. When the hash is gone (a Redis restart without
// persistence, a flush, its expiry) offsets restart at 1 under a new epoch, and whatever
// stream is left belongs to the old epoch and is dropped. TIME in hex (seconds then
// microseconds) is unique per channel because a channel's epoch is created at most once per
// script run.
var publishScript = rueidis.NewLuaScript(lineageLua + `
local m = redis.call('HMGET', KEYS[1], 'e', 'r', 'o')
local epoch = m[1]
local rid = ''
if ARGV[7] == '1' then
  rid = runid()
  if epoch and m[2] ~= rid then
    redis.call('DEL', KEYS[1])
    redis.call('HSET', KEYS[1], 'o', (tonumber(m[3]) or 0) + lineageJump)
    epoch = false
  end
end
local off = redis.call('HINCRBY', KEYS[1], 'o', 1)
if not epoch then
  local t = redis.call('TIME')
  epoch = string.format('%x%05x', tonumber(t[1]), tonumber(t[2]))
  redis.call('HSET', KEYS[1], 'e', epoch)
  if rid ~= '' then
    redis.call('HSET', KEYS[1], 'r', rid)
  end
  redis.call('DEL', KEYS[2])
end
local offs = string.format('%d', off)
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[3], offs .. '-0', 'b', ARGV[2])
local ttl = tonumber(ARGV[4])
local metaTTL = tonumber(ARGV[5])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[2], ttl)
elseif metaTTL > 0 then
  redis.call('EXPIRE', KEYS[2], metaTTL)
end
if metaTTL > 0 then
  redis.call('EXPIRE', KEYS[1], math.max(ttl, metaTTL))
end
redis.call(ARGV[6], ARGV[1], offs .. ':' .. epoch .. ':' .. ARGV[2])
return {off, epoch}
`)

// historyScript reads a channel's position and the entries after an offset in one step, so
// that the position and the entries agree (a subscriber's recovery relies on it).
//
// A channel without an epoch gets one here, at offset 0, like publishScript would: a client
// that subscribed before the first publication must hold the epoch its later offsets belong
// to, or it could never recover. The key this creates expires after the meta TTL.
//
// KEYS: meta, stream. ARGV: first offset wanted (since+1), limit (0 = all), meta TTL seconds
// (0 = none), lineage check ("1" or "0"). Returns {offset, epoch, entries}.
//
// It is retried on a broken connection (after a Redis restart the first use of each pooled
// connection finds it closed): running it twice changes nothing. publishScript is not, as a
// retry could publish twice.
var historyScript = rueidis.NewLuaScriptRetryable(lineageLua + `
local m = redis.call('HMGET', KEYS[1], 'o', 'e', 'r')
local epoch = m[2]
local rid = ''
if ARGV[4] == '1' then
  rid = runid()
  if epoch and m[3] ~= rid then
    redis.call('DEL', KEYS[1])
    m[1] = (tonumber(m[1]) or 0) + lineageJump
    redis.call('HSET', KEYS[1], 'o', m[1])
    epoch = false
  end
end
if not epoch then
  local t = redis.call('TIME')
  epoch = string.format('%x%05x', tonumber(t[1]), tonumber(t[2]))
  redis.call('HSET', KEYS[1], 'e', epoch)
  if rid ~= '' then
    redis.call('HSET', KEYS[1], 'r', rid)
  end
  redis.call('DEL', KEYS[2])
  if tonumber(ARGV[3]) > 0 then
    redis.call('EXPIRE', KEYS[1], ARGV[3])
  end
  return {tonumber(m[1] or '0'), epoch, {}}
end
local entries
if tonumber(ARGV[2]) > 0 then
  entries = redis.call('XRANGE', KEYS[2], ARGV[1] .. '-0', '+', 'COUNT', ARGV[2])
else
  entries = redis.call('XRANGE', KEYS[2], ARGV[1] .. '-0', '+')
end
return {tonumber(m[1] or '0'), epoch, entries}
`)

// lineageLua defines runid(): the run id of the Redis process running the script. In
// cluster and sentinel modes the scripts keep in the meta hash (field r) the run id of the
// process that created the epoch, and start a new epoch (offsets from 1, history dropped)
// when another process finds the hash. That process is a replica promoted by a failover,
// which may lack writes the old master acknowledged and nodes delivered, or the new owner of
// a migrated slot: without a new epoch it would hand out those offsets again, and a client
// recovering from one of them would skip a message without being told. With it, such a
// client gets recovered: false. A restart of the same server also gets a new run id: the
// conservative answer, as an RDB or AOF may lack the last writes too.
//
// The new epoch's offsets do not restart at 1: they continue lineageJump above the old
// counter. Clients that stayed connected hold offsets of the old epoch (pushes carry no
// epoch) and the SDKs drop any offset at or below the last one as a duplicate; jumping
// above every offset the old master can have handed out (it may have had up to the
// replication lag more than its replica) keeps their stream moving forward.
const lineageLua = `
local lineageJump = 1000000
local function runid()
  local info = redis.call('INFO', 'server')
  return string.match(info, 'run_id:(%x+)')
end
`

// memberScript adds or removes a presence member, decides whether its join or leave is news
// (no other member has its user id) and publishes the matching body, in one step: Redis runs
// one script at a time, so of two connections of a user joining (or leaving) on two nodes at
// once exactly one is announced, and the announcements are published in the order of the
// changes (see MemberAnnouncer). Members of nodes that died and were not reaped yet count
// as present: their users were announced and are not gone until their leave is.
//
// KEYS: presence hash. ARGV: "j" (join) or "l" (leave), client id, hash value (join),
// user id, hash TTL seconds, publish command, topic, body if news, body if not.
// Returns 1 if news, 0 if not.
var memberScript = rueidis.NewLuaScript(`
local key, client, user = KEYS[1], ARGV[2], ARGV[4]
if ARGV[1] == 'j' then
  redis.call('HSET', key, client, ARGV[3])
  redis.call('EXPIRE', key, ARGV[5])
else
  redis.call('HDEL', key, client)
end
local n = #user
local news = 1
local all = redis.call('HGETALL', key)
for i = 1, #all, 2 do
  if all[i] ~= client then
    local v = all[i + 1]
    local c = string.find(v, ':', 1, true)
    if c and string.sub(v, c + 1, c + n) == user then
      local after = string.sub(v, c + n + 1, c + n + 1)
      if after == '' or after == '\0' then
        news = 0
        break
      end
    end
  end
end
if news == 1 then
  redis.call(ARGV[6], ARGV[7], ARGV[8])
else
  redis.call(ARGV[6], ARGV[7], ARGV[9])
end
return news
`)
