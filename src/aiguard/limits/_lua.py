"""The counting rules of ``_state.py``, transcribed to Lua for Redis.

One script call per admit and one per settle: Redis runs a script atomically, so reading the
counters, deciding, and writing happen with no other client in between, in one round trip.
The clock is the server's ``TIME`` unless the caller passes one (tests do). Every key gets a
TTL so that nothing outlives its use. Keys of an unexpected type are reported by name and
never overwritten.
"""

from __future__ import annotations

__all__ = ["ADMIT", "PEEK", "SETTLE"]

_COMMON = r"""
local function clock(arg)
  if arg ~= '' then return tonumber(arg) end
  -- Redis < 5 replicates scripts verbatim and forbids writes after TIME unless told to
  -- replicate effects; Redis >= 5 does that by default and keeps this as a no-op.
  if redis.replicate_commands then redis.replicate_commands() end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function f(x) return string.format('%.17g', x) end
local function civil_from_days(z)
  z = z + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524)
    - math.floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local m
  if mp < 10 then m = mp + 3 else m = mp - 9 end
  if m <= 2 then y = y + 1 end
  return y, m
end
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mm
  if m > 2 then mm = m - 3 else mm = m + 9 end
  local doy = math.floor((153 * mm + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end
local function window_of(kind, t)
  local days = math.floor(t / 86400)
  if kind == 1 then return days, (days + 1) * 86400 end
  local y, m = civil_from_days(days)
  local ny, nm = y, m + 1
  if nm == 13 then ny, nm = y + 1, 1 end
  return y * 12 + m - 1, days_from_civil(ny, nm, 1) * 86400
end
local function bad_type(key, want)
  local t = redis.call('TYPE', key)['ok']
  if t ~= 'none' and t ~= want then
    return 'AIGUARD_CORRUPT key ' .. key .. ' holds a ' .. t .. ', expected a ' .. want
  end
  return nil
end
local function load(key)
  local v = redis.call('HMGET', key, 'a', 'b', 'c')
  if not v[1] then return nil end
  local a, b, c = tonumber(v[1]), tonumber(v[2]), tonumber(v[3])
  if a == nil or b == nil or c == nil then
    return nil, 'AIGUARD_CORRUPT key ' .. key .. ' has non-numeric fields'
  end
  return {a, b, c}
end
local function ttl(key, seconds)
  redis.call('PEXPIRE', key, math.ceil(seconds * 1000))
end
local EPS = 1e-9
"""

ADMIT = (
    _COMMON
    + r"""
-- ARGV: now|'' , lease id, then per key: algo, amount, period, cost, max_wait
local now = clock(ARGV[1])
local lease = ARGV[2]
local n = #KEYS
local longest = 0
local st = {}
for i = 1, n do
  local o = 2 + (i - 1) * 5
  local algo, amount, period = tonumber(ARGV[o + 1]), tonumber(ARGV[o + 2]), tonumber(ARGV[o + 3])
  local cost, maxw = tonumber(ARGV[o + 4]), tonumber(ARGV[o + 5])
  local key = KEYS[i]
  if algo == 3 then
    local err = bad_type(key, 'zset')
    if err then return redis.error_reply(err) end
    redis.call('ZREMRANGEBYSCORE', key, '-inf', f(now))
    local live = redis.call('ZCARD', key)
    if live + 1 > amount then
      if maxw > 0 then return {'1', f(math.min(0.05, maxw)), tostring(i - 1), f(now)} end
      local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
      return {'2', f(tonumber(first[2]) - now), tostring(i - 1), f(now)}
    end
  else
    local err = bad_type(key, 'hash')
    if err then return redis.error_reply(err) end
    local s, lerr = load(key)
    if lerr then return redis.error_reply(lerr) end
    st[i] = s
    if cost > amount + EPS then return {'2', '-1', tostring(i - 1), f(now)} end
    if algo == 1 then
      local level = 0
      if s then
        level = s[1] - (now - s[2]) * amount / period
        if level < 0 then level = 0 end
      end
      local over = level + cost - amount
      if over > EPS * amount then
        local wait = over * period / amount
        if wait > maxw then return {'2', f(wait), tostring(i - 1), f(now)} end
        if wait > longest then longest = wait end
      end
    else
      local wid, wend = window_of(period, now)
      if s and s[1] == wid and s[2] + s[3] + cost > amount * (1 + EPS) then
        local wait = wend - now
        if wait <= maxw then return {'1', f(wait), tostring(i - 1), f(now)} end
        return {'2', f(wait), tostring(i - 1), f(now)}
      end
    end
  end
end
local out = {'0', f(longest), '-1', f(now)}
for i = 1, n do
  local o = 2 + (i - 1) * 5
  local algo, amount, period = tonumber(ARGV[o + 1]), tonumber(ARGV[o + 2]), tonumber(ARGV[o + 3])
  local cost = tonumber(ARGV[o + 4])
  local key = KEYS[i]
  local s = st[i]
  if algo == 1 then
    local level, c = 0, 0
    if s then
      level = s[1] - (now - s[2]) * amount / period
      if level < 0 then level = 0 end
      c = s[3]
    end
    level = level + cost
    redis.call('HSET', key, 'a', f(level), 'b', f(now), 'c', f(c + cost))
    ttl(key, level * period / amount + period + 3600)
    out[#out + 1] = '0'
  elseif algo == 2 then
    local wid, wend = window_of(period, now)
    local b, c = 0, 0
    if s and s[1] == wid then b, c = s[2], s[3] end
    redis.call('HSET', key, 'a', f(wid), 'b', f(b), 'c', f(c + cost))
    ttl(key, wend - now + 3600)
    out[#out + 1] = f(wid)
  else
    redis.call('ZADD', key, f(now + period), lease)
    ttl(key, period + 60)
    out[#out + 1] = lease
  end
end
return out
"""
)

SETTLE = (
    _COMMON
    + r"""
-- ARGV: now|'' , then per key: algo, amount, period, reserved, actual, token
local now = clock(ARGV[1])
for i = 1, #KEYS do
  local o = 1 + (i - 1) * 6
  local algo, amount, period = tonumber(ARGV[o + 1]), tonumber(ARGV[o + 2]), tonumber(ARGV[o + 3])
  local reserved, actual, token = tonumber(ARGV[o + 4]), tonumber(ARGV[o + 5]), ARGV[o + 6]
  local key = KEYS[i]
  if algo == 3 then
    local err = bad_type(key, 'zset')
    if err then return redis.error_reply(err) end
    redis.call('ZREM', key, token)
  else
    local err = bad_type(key, 'hash')
    if err then return redis.error_reply(err) end
    local s, lerr = load(key)
    if lerr then return redis.error_reply(lerr) end
    if s and algo == 1 then
      local level = s[1] - (now - s[2]) * amount / period
      if level < 0 then level = 0 end
      level = level + actual - reserved
      if level < 0 then level = 0 end
      redis.call('HSET', key, 'a', f(level), 'b', f(now), 'c', f(math.max(0, s[3] - reserved)))
      ttl(key, level * period / amount + period + 3600)
    elseif s and s[1] == tonumber(token) then
      redis.call('HSET', key, 'b', f(s[2] + actual), 'c', f(math.max(0, s[3] - reserved)))
    end
  end
end
return 'OK'
"""
)

PEEK = (
    _COMMON
    + r"""
-- ARGV: now|''; returns now, then per key: kind ('none'|'hash'|'zset'), a, b, c
local now = clock(ARGV[1])
local out = {f(now)}
for i = 1, #KEYS do
  local key = KEYS[i]
  local t = redis.call('TYPE', key)['ok']
  if t == 'hash' then
    local s, lerr = load(key)
    if lerr then return redis.error_reply(lerr) end
    if s then
      out[#out + 1] = 'hash'; out[#out + 1] = f(s[1]); out[#out + 1] = f(s[2])
      out[#out + 1] = f(s[3])
    else
      out[#out + 1] = 'none'; out[#out + 1] = '0'; out[#out + 1] = '0'; out[#out + 1] = '0'
    end
  elseif t == 'zset' then
    local live = redis.call('ZCOUNT', key, '(' .. f(now), '+inf')
    out[#out + 1] = 'zset'; out[#out + 1] = tostring(live); out[#out + 1] = '0'
    out[#out + 1] = '0'
  elseif t == 'none' then
    out[#out + 1] = 'none'; out[#out + 1] = '0'; out[#out + 1] = '0'; out[#out + 1] = '0'
  else
    return redis.error_reply('AIGUARD_CORRUPT key ' .. key .. ' holds a ' .. t)
  end
end
return out
"""
)
