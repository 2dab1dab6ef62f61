package redisstore

// The Lua scripts below run inside Redis, atomically, one call per store
// operation. They share the helpers of luaLib, which read the record
// encoding of vault.MarshalRecord (version 1, or version 2 with an owner):
//
//	byte 1|2 · string format · string storage · uvarint key version ·
//	string ciphertext · uvarint n · n × string classifier ·
//	varint created_at · varint expires_at (0: never) · string index key ·
//	[version 2: string owner]
//
// where a string is a uvarint length and the bytes, and the varints are Go's
// zigzag varints of Unix nanoseconds. The scripts compare expires_at with the
// caller's clock (ARGV[2], encoded the same way) byte by byte, so the check is
// exact to the nanosecond even though Lua numbers are doubles, and it needs no
// string ordering (Lua's < on strings follows the server's locale).
//
// Corrupt data raises an error whose reply starts with CORRUPT; nothing in
// any error names a key, an alias or a value.
const luaLib = `
local function corrupt()
  error({err = 'CORRUPT redisstore: undecodable record'})
end

-- uvarint reads an unsigned varint (a length) at p.
local function uvarint(s, p)
  local v, m = 0, 1
  while true do
    local b = string.byte(s, p)
    if b == nil or m > 72057594037927936 then corrupt() end
    p = p + 1
    if b < 128 then return v + b * m, p end
    v = v + (b - 128) * m
    m = m * 128
  end
end

-- rawvarint returns the bytes of the varint at p, and the position after it.
local function rawvarint(s, p)
  local q = p
  while true do
    local b = string.byte(s, q)
    if b == nil or q - p >= 10 then corrupt() end
    q = q + 1
    if b < 128 then return string.sub(s, p, q - 1), q end
  end
end

local function skipstring(s, p)
  local n
  n, p = uvarint(s, p)
  if p + n - 1 > #s then corrupt() end
  return p + n
end

-- parse returns where the classifiers start and end (the position after
-- them), the raw expires_at varint, the index key and the owner ('' for the
-- default account) of record s.
local function parse(s)
  local ver = string.byte(s, 1)
  if ver ~= 1 and ver ~= 2 then corrupt() end
  local p = 2
  p = skipstring(s, p) -- format
  p = skipstring(s, p) -- storage
  local _
  _, p = uvarint(s, p) -- key version
  p = skipstring(s, p) -- ciphertext
  local cs = p
  local n
  n, p = uvarint(s, p)
  if n > 1024 then corrupt() end
  for _ = 1, n do p = skipstring(s, p) end
  local ce = p
  _, p = rawvarint(s, p) -- created_at
  local exp
  exp, p = rawvarint(s, p)
  local ilen
  ilen, p = uvarint(s, p)
  local ik = string.sub(s, p, p + ilen - 1)
  p = p + ilen
  local owner = ''
  if ver == 2 then
    local olen
    olen, p = uvarint(s, p)
    if olen == 0 then corrupt() end
    owner = string.sub(s, p, p + olen - 1)
    p = p + olen
  end
  if p - 1 ~= #s then corrupt() end
  return cs, ce, exp, ik, owner
end

-- later reports whether zigzag varint a is a later instant than b.
local function later(a, b)
  local aneg = string.byte(a, 1) % 2 == 1
  local bneg = string.byte(b, 1) % 2 == 1
  if aneg ~= bneg then return bneg end
  -- Compare the zigzag numbers: a longer minimal varint is larger; at the
  -- same length the last byte holds the most significant bits.
  local cmp = 0
  if #a ~= #b then
    if #a > #b then cmp = 1 else cmp = -1 end
  else
    for i = #a, 1, -1 do
      local x, y = string.byte(a, i), string.byte(b, i)
      if x ~= y then
        if x > y then cmp = 1 else cmp = -1 end
        break
      end
    end
  end
  -- zigzag keeps the order of non-negative numbers and reverses that of
  -- negative ones.
  if aneg then return cmp < 0 end
  return cmp > 0
end

-- live reports whether record s has not expired at now, and returns the
-- record's index key, the positions of its classifiers and its owner.
local function live(s, now)
  local cs, ce, exp, ik, owner = parse(s)
  return exp == '\0' or later(exp, now), ik, cs, ce, owner
end

local function tohex(s)
  return (string.gsub(s, '.', function(c) return string.format('%02x', string.byte(c)) end))
end
`

// putScript writes a batch of records.
//
// KEYS: for each item its record key, then its index key when it has one.
// ARGV: prefix, now, then per item: record bytes, TTL in ms ("0": none),
// "1" when the item has an index key else "0".
// Returns per item: status (1 created, 2 existing, 3 collision), the
// existing alias and the existing record bytes ("" unless existing).
//
// Every decision is taken before the first write, so a corrupt record met
// anywhere fails the whole call with nothing written. Reads go through an
// overlay of the call's own writes, so items see each other. An item whose
// exact bytes are already stored under its alias is reported created again:
// that is a replay of the same call (go-redis retries a command whose
// connection broke after the server ran it).
const putScript = luaLib + `
local prefix, now = ARGV[1], ARGV[2]
local recs, idxs = {}, {}
local function get(t, k)
  local v = t[k]
  if v == nil then
    v = redis.call('GET', k)
    t[k] = v
  end
  return v
end
local ops, out = {}, {}
local ki = 1
local n = (#ARGV - 2) / 3
for i = 0, n - 1 do
  local val, px, hasidx = ARGV[3 + 3 * i], ARGV[4 + 3 * i], ARGV[5 + 3 * i]
  local rk = KEYS[ki]
  ki = ki + 1
  local alias = string.sub(rk, #prefix + 3)
  local ik = false
  if hasidx == '1' then
    ik = KEYS[ki]
    ki = ki + 1
  end
  local status, ealias, evalue = 0, '', ''
  if ik then
    local a = get(idxs, ik)
    if a then
      local ev = get(recs, prefix .. 'r:' .. a)
      if ev then
        local ok, eidx = live(ev, now)
        if ok and prefix .. 'i:' .. tohex(eidx) == ik then
          if a == alias and ev == val then
            status = 1
          else
            status, ealias, evalue = 2, a, ev
          end
        end
      end
    end
  end
  if status == 0 then
    local ev = get(recs, rk)
    if ev then
      local ok, eidx = live(ev, now)
      if ok then
        if ev == val then status = 1 else status = 3 end
      else
        -- Expired by the caller's clock but still in Redis: replace it
        -- and drop the index entry that points at it.
        ops[#ops + 1] = {'DEL', rk}
        ops[#ops + 1] = {'DEL', prefix .. 'h:' .. alias}
        recs[rk] = false
        if eidx ~= '' then
          local oik = prefix .. 'i:' .. tohex(eidx)
          if get(idxs, oik) == alias then
            ops[#ops + 1] = {'DEL', oik}
            idxs[oik] = false
          end
        end
      end
    end
    if status == 0 then
      status = 1
      ops[#ops + 1] = {'NEW', rk, val, px}
      recs[rk] = val
      if ik then
        ops[#ops + 1] = {'IDX', ik, alias, px}
        idxs[ik] = alias
      end
    end
  end
  out[#out + 1] = status
  out[#out + 1] = ealias
  out[#out + 1] = evalue
end
for _, op in ipairs(ops) do
  if op[1] == 'DEL' then
    redis.call('DEL', op[2])
  elseif op[1] == 'NEW' then
    local ok
    if op[4] ~= '0' then
      ok = redis.call('SET', op[2], op[3], 'NX', 'PX', op[4])
    else
      ok = redis.call('SET', op[2], op[3], 'NX')
    end
    if not ok then error({err = 'CONFLICT redisstore: record key taken during put'}) end
  else
    if op[4] ~= '0' then
      redis.call('SET', op[2], op[3], 'PX', op[4])
    else
      redis.call('SET', op[2], op[3])
    end
  end
end
return out
`

// lookupScript resolves index keys to live aliases, and with records
// set to "1" returns their records too.
//
// KEYS: index keys. ARGV: prefix, now, records. Returns an alias or "" per
// key, then, with records, the record of each ("" where the alias is).
const lookupScript = luaLib + `
local prefix, now, records = ARGV[1], ARGV[2], ARGV[3] == '1'
local out = {}
local n = #KEYS
for i, ik in ipairs(KEYS) do
  local r, v = '', ''
  local a = redis.call('GET', ik)
  if a then
    local ev = redis.call('GET', prefix .. 'r:' .. a)
    if ev then
      local ok, eidx = live(ev, now)
      if ok and prefix .. 'i:' .. tohex(eidx) == ik then r, v = a, ev end
    end
  end
  out[i] = r
  if records then out[n + i] = v end
end
return out
`

// deleteScript removes a record, the index entry that points at it and its
// hand-out mark (Release: unless it has one).
//
// KEYS[1]: the record key. ARGV: prefix, now, alias, owner, "1" to keep a
// record HandOut marked (Release) else "0". Returns 1 when a live record
// of owner was removed, 0 when there was none (an expired one still in
// Redis is removed too, but counts as none), 2 when a live record of owner
// was kept for its mark; a live record of another owner is left alone and
// counts as none.
const deleteScript = luaLib + `
local ev = redis.call('GET', KEYS[1])
if not ev then return 0 end
local ok, eidx, _, _, owner = live(ev, ARGV[2])
if ok and owner ~= ARGV[4] then return 0 end
local hk = ARGV[1] .. 'h:' .. ARGV[3]
if ok and ARGV[5] == '1' and redis.call('EXISTS', hk) == 1 then return 2 end
redis.call('DEL', KEYS[1], hk)
if eidx ~= '' then
  local ik = ARGV[1] .. 'i:' .. tohex(eidx)
  if redis.call('GET', ik) == ARGV[3] then redis.call('DEL', ik) end
end
if ok then return 1 end
return 0
`

// handOutScript marks live records as handed out: a key beside each
// record, with the TTL the record has left (none when it has none), so
// that the mark goes with the record.
//
// KEYS: record keys. ARGV: prefix, now, then the alias of each key. Returns
// 1 per live record (marked), 0 per other.
const handOutScript = luaLib + `
local prefix, now = ARGV[1], ARGV[2]
local out = {}
for i, rk in ipairs(KEYS) do
  out[i] = 0
  local ev = redis.call('GET', rk)
  if ev and live(ev, now) then
    out[i] = 1
    local hk = prefix .. 'h:' .. ARGV[2 + i]
    local ttl = redis.call('PTTL', rk)
    if ttl > 0 then
      redis.call('SET', hk, '1', 'PX', ttl)
    else
      redis.call('SET', hk, '1')
    end
  end
end
return out
`

// classifiersScript replaces the classifiers of live records, keeping each
// key's remaining TTL (SET … KEEPTTL).
//
// KEYS: record keys. ARGV: prefix, now, the encoded classifier list (uvarint
// count and strings). Returns how many records were changed.
const classifiersScript = luaLib + `
local now, cls = ARGV[2], ARGV[3]
local news = {}
for _, rk in ipairs(KEYS) do
  local ev = redis.call('GET', rk)
  if ev then
    local ok, _, cs, ce = live(ev, now)
    if ok then
      news[#news + 1] = {rk, string.sub(ev, 1, cs - 1) .. cls .. string.sub(ev, ce)}
    end
  end
end
for _, w in ipairs(news) do
  redis.call('SET', w[1], w[2], 'KEEPTTL')
end
return #news
`
