-- wrk script of bench/webhooks_gunicorn.py: each request is a WooCommerce order.created delivery of its own
-- order (a distinct id), signed here as WooCommerce signs it: X-WC-Webhook-Signature = base64(HMAC-SHA256(body)).
--
-- Environment: RELANCE_BENCH_TEMPLATE (a file holding the exact WooCommerce body, __ID__ where the order id
-- goes), RELANCE_BENCH_SECRET (the webhook secret), RELANCE_BENCH_FIRST_ID (first order id of this run; each
-- wrk thread takes ids from FIRST_ID + thread * 10,000,000), RELANCE_BENCH_PATH (the request path).
-- done() prints one JSON line: requests, non-2xx answers, socket errors, latency p50/p99 (ms).

local bit = require("bit")
local band, bor, bxor, bnot = bit.band, bit.bor, bit.bxor, bit.bnot
local rshift, lshift, ror, tobit = bit.rshift, bit.lshift, bit.ror, bit.tobit
local byte, char, rep, concat = string.byte, string.char, string.rep, table.concat

local K = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}
for i = 1, 64 do K[i] = tobit(K[i]) end
local H0 = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 }
for i = 1, 8 do H0[i] = tobit(H0[i]) end

local function sha256(msg)
  local len = #msg
  local bits = len * 8
  msg = msg .. "\128" .. rep("\0", (55 - len) % 64)
    .. char(0, 0, 0, 0)  -- bodies stay far below 2^32 bits
    .. char(band(rshift(bits, 24), 255), band(rshift(bits, 16), 255), band(rshift(bits, 8), 255), band(bits, 255))
  local h = { H0[1], H0[2], H0[3], H0[4], H0[5], H0[6], H0[7], H0[8] }
  local w = {}
  for chunk = 1, #msg, 64 do
    for i = 0, 15 do
      local b1, b2, b3, b4 = byte(msg, chunk + i * 4, chunk + i * 4 + 3)
      w[i] = bor(lshift(b1, 24), lshift(b2, 16), lshift(b3, 8), b4)
    end
    for i = 16, 63 do
      local x, y = w[i - 15], w[i - 2]
      local s0 = bxor(ror(x, 7), ror(x, 18), rshift(x, 3))
      local s1 = bxor(ror(y, 17), ror(y, 19), rshift(y, 10))
      w[i] = tobit(w[i - 16] + s0 + w[i - 7] + s1)
    end
    local a, b, c, d, e, f, g, hh = h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8]
    for i = 0, 63 do
      local S1 = bxor(ror(e, 6), ror(e, 11), ror(e, 25))
      local ch = bxor(band(e, f), band(bnot(e), g))
      local t1 = hh + S1 + ch + K[i + 1] + w[i]
      local S0 = bxor(ror(a, 2), ror(a, 13), ror(a, 22))
      local maj = bxor(band(a, b), band(a, c), band(b, c))
      hh, g, f, e, d, c, b, a = g, f, e, tobit(d + t1), c, b, a, tobit(t1 + S0 + maj)
    end
    h[1], h[2], h[3], h[4] = tobit(h[1] + a), tobit(h[2] + b), tobit(h[3] + c), tobit(h[4] + d)
    h[5], h[6], h[7], h[8] = tobit(h[5] + e), tobit(h[6] + f), tobit(h[7] + g), tobit(h[8] + hh)
  end
  local out = {}
  for i = 1, 8 do
    local v = h[i]
    out[i] = char(band(rshift(v, 24), 255), band(rshift(v, 16), 255), band(rshift(v, 8), 255), band(v, 255))
  end
  return concat(out)
end

local function xor_pad(key, pad)
  local out = {}
  for i = 1, 64 do out[i] = char(bxor(byte(key, i), pad)) end
  return concat(out)
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function base64(data)
  local out = {}
  for i = 1, #data, 3 do
    local a, b, c = byte(data, i, i + 2)
    local n = lshift(a, 16) + lshift(b or 0, 8) + (c or 0)
    local s = { rshift(n, 18), band(rshift(n, 12), 63), band(rshift(n, 6), 63), band(n, 63) }
    local chunk = B64:sub(s[1] + 1, s[1] + 1) .. B64:sub(s[2] + 1, s[2] + 1)
    chunk = chunk .. (b and B64:sub(s[3] + 1, s[3] + 1) or "=") .. (c and B64:sub(s[4] + 1, s[4] + 1) or "=")
    out[#out + 1] = chunk
  end
  return concat(out)
end

local secret = os.getenv("RELANCE_BENCH_SECRET")
if #secret > 64 then secret = sha256(secret) end
secret = secret .. rep("\0", 64 - #secret)
local ipad, opad = xor_pad(secret, 0x36), xor_pad(secret, 0x5c)

local function sign(body)
  return base64(sha256(opad .. sha256(ipad .. body)))
end

local threads = {}
local counter = 0

function setup(thread)
  thread:set("index", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local template, path, next_id

function init(args)
  local file = assert(io.open(os.getenv("RELANCE_BENCH_TEMPLATE"), "rb"))
  template = file:read("*a")
  file:close()
  path = os.getenv("RELANCE_BENCH_PATH")
  next_id = tonumber(os.getenv("RELANCE_BENCH_FIRST_ID")) + index * 10000000
end

function request()
  next_id = next_id + 1
  local body = template:gsub("__ID__", tostring(next_id))
  local headers = {
    ["Content-Type"] = "application/json",
    ["User-Agent"] = "WooCommerce/10.0.2 Hookshot (WordPress/6.8.8)",
    ["X-WC-Webhook-Source"] = "https://shop.example.com/",
    ["X-WC-Webhook-Topic"] = "order.created",
    ["X-WC-Webhook-Resource"] = "order",
    ["X-WC-Webhook-Event"] = "created",
    ["X-WC-Webhook-ID"] = "4",
    ["X-WC-Webhook-Delivery-ID"] = tostring(next_id),
    ["X-WC-Webhook-Signature"] = sign(body),
  }
  return wrk.format("POST", path, headers, body)
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, "p50_ms": %.3f, "p99_ms": %.3f}\n',
    summary.requests, summary.duration, errors.status, errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
