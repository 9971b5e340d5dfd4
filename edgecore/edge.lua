#!lua name=edge
-- Read functions of the edge's Redis read model (layout: edgecore/readmodel.py).
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

redis.register_function{function_name='edge_device', callback=edge_device,
                        flags={'no-writes'}}
redis.register_function{function_name='edge_tenant', callback=edge_tenant,
                        flags={'no-writes'}}
redis.register_function{function_name='edge_call', callback=edge_call,
                        flags={'no-writes'}}
