#!lua name=edge
-- Read functions of the edge's Redis read model (layout: edgestore/readmodel.py).
-- Each is one round trip for a Kamailio worker; they only fetch, never decide:
-- number precedence and the dialing policy are pure Python (edgecore/).
-- Keys are derived from the current generation inside the function, which is
-- what makes a generation flip atomic for readers (standalone/Sentinel Redis).

local function prefix()
  local g = redis.call('GET', 'edge:gen')
  if not g then
    return nil
  end
  return 'e' .. g .. ':'
end

local function nomodel()
  return redis.error_reply('NOMODEL read model not loaded')
end

-- edge_device(authuser) -> {device json | nil, tenant json | nil}
local function edge_device(keys, args)
  local p = prefix()
  if not p then return nomodel() end
  local dev = redis.call('GET', p .. 'd:' .. string.lower(args[1]))
  if not dev then
    return {false, false}
  end
  local t = cjson.decode(dev)['t']
  return {dev, redis.call('GET', p .. 't:' .. t)}
end

-- edge_tenant(id) -> {tenant json | nil}
local function edge_tenant(keys, args)
  local p = prefix()
  if not p then return nomodel() end
  return {redis.call('GET', p .. 't:' .. args[1])}
end

-- edge_tenant_devices(tenant...) -> for each tenant {tenant json | false,
-- {device json...}}: what a node's timer process fills its device cache with
-- (kemi/nodecache.py), a chunk of tenants per round trip; the devices are the
-- d: keys the tenant owns (its native and legacy identities)
local function edge_tenant_devices(keys, args)
  local p = prefix()
  if not p then return nomodel() end
  local own = 'K\t' .. p .. 'd:'
  local out = {}
  for i = 1, #args do
    local ten = redis.call('GET', p .. 't:' .. args[i])
    local devs = {}
    if ten then
      for _, e in ipairs(redis.call('SMEMBERS', p .. 'own:' .. args[i])) do
        if string.sub(e, 1, #own) == own then
          local dev = redis.call('GET', string.sub(e, 3))
          if dev then devs[#devs + 1] = dev end
        end
      end
    end
    out[i] = {ten or false, devs}
  end
  return out
end

-- edge_changed(gen, tenant...) -> the new version: every change of the read
-- model bumps edge:ver through here, and records in e<gen>:tv the version at
-- which each named tenant last changed (a node re-fetches only those
-- tenants' devices); the member '*' holds the version of the last change of
-- any kind, so a node can tell a change recorded here from one that was not
-- (then it re-fetches everything)
local function edge_changed(keys, args)
  local v = redis.call('INCR', 'edge:ver')
  local k = 'e' .. args[1] .. ':tv'
  for i = 2, #args do
    redis.call('ZADD', k, v, args[i])
  end
  redis.call('ZADD', k, v, '*')
  return v
end

-- global range containing number (digits only), as "last:first:tenant" or false
local function global_range(p, number)
  local hit = redis.call('ZRANGE', p .. 'r:' .. #number, number, '+inf',
                         'BYSCORE', 'LIMIT', 0, 1)
  if #hit == 0 then return false end
  local first = string.match(hit[1], '^%d+:(%d+):')
  if tonumber(first) > tonumber(number) then return false end
  return hit[1]
end

-- edge_call(caller authuser, dialled) ->
--   {caller device, caller tenant, caller exceptions (array),
--    local target, global range member, global target, global tenant,
--    qualified target, qualified tenant}
-- An empty caller (a leg from a media pool member) has no local numbers:
-- only the global and tenant-qualified forms resolve.
local function edge_call(keys, args)
  local p = prefix()
  if not p then return nomodel() end
  local out = {false, false, {}, false, false, false, false, false, false}
  local ct = nil
  if args[1] ~= '' then
    local dev = redis.call('GET', p .. 'd:' .. string.lower(args[1]))
    if not dev then return out end
    ct = cjson.decode(dev)['t']
    out[1] = dev
    out[2] = redis.call('GET', p .. 't:' .. ct)
    out[3] = redis.call('SMEMBERS', p .. 'x:' .. ct)
  end
  local dialled = args[2]
  if string.match(dialled, '^%d+$') then
    if ct then
      out[4] = redis.call('GET', p .. 'n:' .. ct .. ':' .. dialled)
    end
    if #dialled <= 15 then
      local rng = global_range(p, dialled)
      if rng then
        local owner = string.match(rng, ':(%d+)$')
        out[5] = rng
        out[6] = redis.call('GET', p .. 'n:' .. owner .. ':' .. dialled)
        out[7] = redis.call('GET', p .. 't:' .. owner)
      end
    end
  else
    local qt, qn = string.match(dialled, '^(%d%d%d%d%d)%*(%d+)$')
    if qt then
      out[8] = redis.call('GET', p .. 'n:' .. qt .. ':' .. qn)
      out[9] = redis.call('GET', p .. 't:' .. qt)
    end
  end
  return out
end

-- ---------------------------------------------------------------------------
-- Runtime protection state (edgestore/guard.py): not part of the generation
-- model, written by any node, read back into every node's ban table.

-- Trust: when an identity last authenticated from a source, as field
-- "<identity lowercased>|<source>" (a source has no '|') of one of 4096 hashes
-- chosen by the identity ("edge:trust:<3 hex digits of its SHA-1>"): a few
-- dozen small fields per hash at 100k devices, kept compact by Redis
-- (listpack), where a key per identity cost ~170 bytes each.
-- how long a failure's time is kept against successes written late
-- (kemi/security.py TRUST_NOTE_MAX_AGE: the timer drops older notes)
local TRUST_FAIL_KEEP = 120

local function trust_slot(identity, source)
  local lid = string.lower(identity)
  return 'edge:trust:' .. string.sub(redis.sha1hex(lid), 1, 3), lid .. '|' .. source
end

-- edge_auth_fail(source, identity, now, window, source_max, identity_max, ban_time
--                [, window, source_max, identity_max, ban_time]...)
--   -> {until of the source's ban decided now (0: none), same for the identity}
-- Failures are counted in every window given (the short one first: fast
-- guessing; then the long ones, hour and day: slow guessing), each with its
-- own limits and ban length; a ban never shortens one already in force.
-- An empty identity counts against the source only (a guess at a locked
-- identity, which is not even checked).
local function edge_auth_fail(keys, args)
  local src, id, now = args[1], args[2], tonumber(args[3])
  local out = {0, 0}
  local function count(key, window, max, ban, field, slot)
    local seq = redis.call('INCR', 'edge:fail:seq')
    redis.call('ZADD', key, now, seq)
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
    redis.call('EXPIRE', key, window)
    if max > 0 and redis.call('ZCARD', key) >= max then
      local untl = math.floor(now) + ban                       -- guard.ban_until
      local cur = tonumber(redis.call('HGET', 'edge:bans', field) or '0') or 0
      if untl > cur then
        redis.call('HSET', 'edge:bans', field, untl)
        redis.call('HSET', 'edge:bans:why', field, 'failed authentications')
        redis.call('INCR', 'edge:bans:ver')
      else
        untl = cur
      end
      redis.call('DEL', key)
      if untl > out[slot] then out[slot] = untl end
    end
  end
  local lid = string.lower(id)
  local i, first = 4, true
  while args[i + 3] do
    local window, ban = tonumber(args[i]), tonumber(args[i + 3])
    -- the short window keeps its historical key names; long ones name theirs
    local tag = first and '' or (args[i] .. ':')
    if src ~= '' then
      count('edge:fail:' .. tag .. 'src:' .. src, window, tonumber(args[i + 1]), ban,
            'src:' .. src, 1)
    end
    if id ~= '' then
      count('edge:fail:' .. tag .. 'id:' .. lid, window, tonumber(args[i + 2]), ban,
            'id:' .. lid, 2)
    end
    i, first = i + 4, false
  end
  -- a source that failed for this identity is no longer trusted for it --
  -- nor by a success that happened before this failure and is written after
  -- it (the nodes' timers write successes up to a poll interval late, from
  -- any node): its time is kept for TRUST_FAIL_KEEP seconds, and
  -- edge_auth_ok writes no success older than it
  if id ~= '' and src ~= '' then
    local key, field = trust_slot(id, src)
    redis.call('HDEL', key, field)
    redis.call('SET', 'edge:trustfail:' .. field, args[3], 'EX', TRUST_FAIL_KEEP)
  end
  return out
end

-- edge_ban(field, until, reason): ban a source ("src:IP") or identity ("id:USER")
local function edge_ban(keys, args)
  redis.call('HSET', 'edge:bans', args[1], args[2])
  redis.call('HSET', 'edge:bans:why', args[1], args[3])
  return redis.call('INCR', 'edge:bans:ver')
end

-- edge_unban(field) -> number of bans removed
local function edge_unban(keys, args)
  local n = redis.call('HDEL', 'edge:bans', args[1])
  redis.call('HDEL', 'edge:bans:why', args[1])
  redis.call('INCR', 'edge:bans:ver')
  return n
end

-- edge_auth_ok(identity, source, now, trusted_for): the identity authenticated
-- from this source, which becomes trusted for it (for trusted_for seconds
-- from the whole second it did: never longer). The hash lives trusted_for
-- after its last write; its fields older than that are removed by a write,
-- at most once per trusted_for per hash (field "~": when it last was).
local function edge_auth_ok(keys, args)
  local key, field = trust_slot(args[1], args[2])
  local failed = tonumber(redis.call('GET', 'edge:trustfail:' .. field) or '')
  if failed and failed >= tonumber(args[3]) then
    return 0                     -- this source failed for it since: no trust
  end
  local now, keep = math.floor(tonumber(args[3])), tonumber(args[4])
  redis.call('HSET', key, field, now)
  if now - (tonumber(redis.call('HGET', key, '~') or '0') or 0) >= keep then
    local all = redis.call('HGETALL', key)
    for i = 1, #all, 2 do
      if all[i] ~= '~' and (tonumber(all[i + 1]) or 0) < now - keep then
        redis.call('HDEL', key, all[i])
      end
    end
    redis.call('HSET', key, '~', now)
  end
  redis.call('EXPIRE', key, keep)
  return 1
end

-- edge_trusted(identity, source, now, trusted_for) -> 1 if it authenticated
-- from there lately
local function edge_trusted(keys, args)
  local key, field = trust_slot(args[1], args[2])
  local t = redis.call('HGET', key, field)
  if t and tonumber(t) >= tonumber(args[3]) - tonumber(args[4]) then return 1 end
  return 0
end

-- edge_call_admit(callid, device key, device max, tenant key, tenant max, now, ttl)
--   -> {1, ''} admitted, or {0, 'device'|'tenant'}
local function edge_call_admit(keys, args)
  local now, ttl = tonumber(args[6]), tonumber(args[7])
  local slots = {{args[2], tonumber(args[3]), 'device'}, {args[4], tonumber(args[5]), 'tenant'}}
  for _, s in ipairs(slots) do
    if s[2] > 0 then
      redis.call('ZREMRANGEBYSCORE', s[1], '-inf', now)
      if redis.call('ZSCORE', s[1], args[1]) == false and redis.call('ZCARD', s[1]) >= s[2] then
        return {0, s[3]}
      end
    end
  end
  for _, s in ipairs(slots) do
    if s[2] > 0 then
      redis.call('ZADD', s[1], now + ttl, args[1])
      redis.call('EXPIRE', s[1], ttl)
    end
  end
  return {1, ''}
end

-- edge_call_release(callid, device key, tenant key)
local function edge_call_release(keys, args)
  redis.call('ZREM', args[2], args[1])
  redis.call('ZREM', args[3], args[1])
  return 1
end

redis.register_function('edge_auth_fail', edge_auth_fail)
redis.register_function('edge_ban', edge_ban)
redis.register_function('edge_unban', edge_unban)
redis.register_function('edge_auth_ok', edge_auth_ok)
redis.register_function{function_name='edge_trusted', callback=edge_trusted,
                        flags={'no-writes'}}
redis.register_function('edge_call_admit', edge_call_admit)
redis.register_function('edge_call_release', edge_call_release)

redis.register_function{function_name='edge_device', callback=edge_device,
                        flags={'no-writes'}}
redis.register_function{function_name='edge_tenant', callback=edge_tenant,
                        flags={'no-writes'}}
redis.register_function{function_name='edge_call', callback=edge_call,
                        flags={'no-writes'}}
redis.register_function{function_name='edge_tenant_devices', callback=edge_tenant_devices,
                        flags={'no-writes'}}
redis.register_function('edge_changed', edge_changed)
