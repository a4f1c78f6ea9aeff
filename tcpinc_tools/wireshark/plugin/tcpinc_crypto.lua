-- tcpinc_crypto.lua: the cryptography the tcpcrypt dissector needs (RFC 8548 §3.1, §3.3-§3.6).
--
-- A helper of tcpinc.lua, loaded by it with loadfile(); loaded on its own (Wireshark runs every
-- .lua file of its plugin folders) it only returns a table and touches nothing.
--
--   HMAC-SHA256 and HKDF (RFC 5869): luaossl's openssl.hmac when the module loads, else a
--   SHA-256 written here in plain Lua (FIPS 180-4).
--   AEAD open (RFC 5116 AES-GCM, RFC 8439 ChaCha20-Poly1305), one of three backends:
--     "gcrypt"  Wireshark's GcryptCipher Lua API (Wireshark 4.6 and later);
--     "luaossl" luaossl's openssl.cipher (Debian package lua-luaossl). luaossl cannot pass
--               associated data to a GCM or Poly1305 context, so only the raw block and stream
--               ciphers come from OpenSSL (AES-ECB, AES-CTR, ChaCha20); GHASH and Poly1305,
--               which authenticate the frame, are computed here;
--     "none"    no decryption.
--
-- Bytes are Lua strings everywhere. Works on Lua 5.2 (bit32), LuaJIT/5.1 (bit) and 5.3+
-- (native operators, loaded through load() so that older parsers never see them).

local M = {}

local TWO32 = 4294967296

-- ---------------------------------------------------------------------------------------------
-- 32-bit operations on non-negative integers
-- ---------------------------------------------------------------------------------------------

local band, bor, bxor, bnot, lshift, rshift, rrotate

if type(bit32) == "table" then
    band, bor, bxor, bnot = bit32.band, bit32.bor, bit32.bxor, bit32.bnot
    lshift, rshift, rrotate = bit32.lshift, bit32.rshift, bit32.rrotate
elseif type(bit) == "table" and bit.band then
    -- LuaBitOp returns signed results: bring them back to 0 .. 2^32-1.
    local b = bit
    band = function(x, y) return b.band(x, y) % TWO32 end
    bor = function(x, y) return b.bor(x, y) % TWO32 end
    bxor = function(x, y, z)
        if z then return b.bxor(x, y, z) % TWO32 end
        return b.bxor(x, y) % TWO32
    end
    bnot = function(x) return b.bnot(x) % TWO32 end
    lshift = function(x, n) return b.lshift(x, n) % TWO32 end
    rshift = function(x, n) return b.rshift(x, n) % TWO32 end
    rrotate = function(x, n) return b.ror(x, n) % TWO32 end
else
    local ops = load([[
        local M = 0xffffffff
        return {
            function(x, y) return x & y end,
            function(x, y) return x | y end,
            function(x, y, z) if z then return x ~ y ~ z end return x ~ y end,
            function(x) return ~x & M end,
            function(x, n) return (x << n) & M end,
            function(x, n) return (x & M) >> n end,
            function(x, n) x = x & M return ((x >> n) | (x << (32 - n))) & M end,
        }]])()
    band, bor, bxor, bnot, lshift, rshift, rrotate =
        ops[1], ops[2], ops[3], ops[4], ops[5], ops[6], ops[7]
end

local floor = math.floor
local byte, char, concat = string.byte, string.char, table.concat
local unpack = table.unpack or unpack

-- ---------------------------------------------------------------------------------------------
-- Bytes
-- ---------------------------------------------------------------------------------------------

function M.tohex(s)
    return (s:gsub(".", function(c) return string.format("%02x", byte(c)) end))
end

-- nil when ``h`` is not an even number of hex digits.
function M.fromhex(h)
    if #h % 2 ~= 0 or h:find("[^%x]") then
        return nil
    end
    return (h:gsub("%x%x", function(x) return char(tonumber(x, 16)) end))
end

local function xor_bytes(a, b)
    local out = {}
    for i = 1, #a do
        out[i] = char(bxor(byte(a, i), byte(b, i)))
    end
    return concat(out)
end
M.xor_bytes = xor_bytes

local function be32(x)
    return char(floor(x / 16777216) % 256, floor(x / 65536) % 256, floor(x / 256) % 256, x % 256)
end

-- An unsigned integer below 2^53 as ``n`` bytes, big-endian or little-endian.
function M.uint_bytes(x, n, little)
    local out = {}
    for i = n, 1, -1 do
        out[i] = char(x % 256)
        x = floor(x / 256)
    end
    local s = concat(out)
    if little then
        s = s:reverse()
    end
    return s
end

-- ---------------------------------------------------------------------------------------------
-- SHA-256 (FIPS 180-4 §6.2) and HMAC (RFC 2104) in plain Lua
-- ---------------------------------------------------------------------------------------------

local K256 = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}

local H256 = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
}

local function sha256_block(h, s, at)
    local w = {}
    for i = 1, 16 do
        local a, b, c, d = byte(s, at + 4 * i - 4, at + 4 * i - 1)
        w[i] = ((a * 256 + b) * 256 + c) * 256 + d
    end
    for i = 17, 64 do
        local x, y = w[i - 15], w[i - 2]
        local s0 = bxor(rrotate(x, 7), rrotate(x, 18), rshift(x, 3))
        local s1 = bxor(rrotate(y, 17), rrotate(y, 19), rshift(y, 10))
        w[i] = (w[i - 16] + s0 + w[i - 7] + s1) % TWO32
    end
    local a, b, c, d, e, f, g, hh = h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8]
    for i = 1, 64 do
        local S1 = bxor(rrotate(e, 6), rrotate(e, 11), rrotate(e, 25))
        local ch = bxor(band(e, f), band(bnot(e), g))
        local t1 = (hh + S1 + ch + K256[i] + w[i]) % TWO32
        local S0 = bxor(rrotate(a, 2), rrotate(a, 13), rrotate(a, 22))
        local maj = bxor(band(a, b), band(a, c), band(b, c))
        local t2 = (S0 + maj) % TWO32
        hh, g, f, e, d, c, b, a = g, f, e, (d + t1) % TWO32, c, b, a, (t1 + t2) % TWO32
    end
    h[1], h[2], h[3], h[4] = (h[1] + a) % TWO32, (h[2] + b) % TWO32, (h[3] + c) % TWO32, (h[4] + d) % TWO32
    h[5], h[6], h[7], h[8] = (h[5] + e) % TWO32, (h[6] + f) % TWO32, (h[7] + g) % TWO32, (h[8] + hh) % TWO32
end

-- FIPS 180-4 §5.1.1 padding, §6.2.2 the hash computation.
function M.sha256_lua(msg)
    local h = { unpack(H256) }
    local len = #msg
    local padded = msg .. "\128" .. string.rep("\0", (55 - len) % 64) .. M.uint_bytes(len * 8, 8)
    for at = 1, #padded, 64 do
        sha256_block(h, padded, at)
    end
    local out = {}
    for i = 1, 8 do
        out[i] = be32(h[i])
    end
    return concat(out)
end

-- RFC 2104: HMAC(K, m) = H((K ^ opad) | H((K ^ ipad) | m)), block size 64.
function M.hmac_sha256_lua(key, msg)
    if #key > 64 then
        key = M.sha256_lua(key)
    end
    key = key .. string.rep("\0", 64 - #key)
    local ipad = key:gsub(".", function(c) return char(bxor(byte(c), 0x36)) end)
    local opad = key:gsub(".", function(c) return char(bxor(byte(c), 0x5c)) end)
    return M.sha256_lua(opad .. M.sha256_lua(ipad .. msg))
end

local ok_hmac, ossl_hmac = pcall(require, "openssl.hmac")
if not ok_hmac or type(ossl_hmac) ~= "table" or not ossl_hmac.new then
    ossl_hmac = nil
end

local function hmac_sha256(key, msg)
    if ossl_hmac then
        return ossl_hmac.new(key, "sha256"):final(msg)
    end
    return M.hmac_sha256_lua(key, msg)
end
M.hmac_sha256 = hmac_sha256
M.hmac_backend = ossl_hmac and "luaossl" or "lua"

-- RFC 8548 §3.1: CPRF(K, CONST, L) = the first L bytes of HKDF-Expand-SHA256(K, CONST):
-- T(n) = HMAC(K, T(n-1) | CONST | n), the counter one octet after the whole CONST.
function M.cprf(k, const, len)
    local out, t, n = {}, "", 1
    local have = 0
    while have < len do
        t = hmac_sha256(k, t .. const .. char(n))
        out[#out + 1] = t
        have = have + #t
        n = n + 1
    end
    return concat(out):sub(1, len)
end

-- ---------------------------------------------------------------------------------------------
-- GHASH (NIST SP 800-38D §6.4) with per-key 4-bit tables
-- ---------------------------------------------------------------------------------------------

-- 128-bit values are four 32-bit words, most significant first; bit 0 of a block is the most
-- significant bit of its first byte (SP 800-38D §6.3).
local function words(s, at)
    local w = {}
    for i = 0, 3 do
        local a, b, c, d = byte(s, at + 4 * i, at + 4 * i + 3)
        w[i + 1] = ((a * 256 + b) * 256 + c) * 256 + d
    end
    return w
end

-- V[i] = H * x^i for i = 0..127 (SP 800-38D §6.3 Algorithm 1's V_i), then for each of the
-- 32 nibble positions p and nibble values n the product of n at position p with H.
local function ghash_tables(hkey)
    local v = { words(hkey, 1) }
    for i = 2, 128 do
        local p = v[i - 1]
        local low = p[4] % 2
        local n1 = floor(p[1] / 2)
        local n2 = floor(p[2] / 2) + (p[1] % 2) * 2147483648
        local n3 = floor(p[3] / 2) + (p[2] % 2) * 2147483648
        local n4 = floor(p[4] / 2) + (p[3] % 2) * 2147483648
        if low == 1 then
            n1 = bxor(n1, 0xe1000000)
        end
        v[i] = { n1, n2, n3, n4 }
    end
    local t = {}
    for pos = 0, 31 do
        local row = { [0] = { 0, 0, 0, 0 } }
        for n = 1, 15 do
            local acc = { 0, 0, 0, 0 }
            for k = 0, 3 do
                -- nibble bit 8 >> k is block bit 4*pos + k
                if floor(n / 2 ^ (3 - k)) % 2 == 1 then
                    local e = v[4 * pos + k + 1]
                    acc = { bxor(acc[1], e[1]), bxor(acc[2], e[2]), bxor(acc[3], e[3]), bxor(acc[4], e[4]) }
                end
            end
            row[n] = acc
        end
        t[pos] = row
    end
    return t
end

local function gf_mul(t, x)
    local z1, z2, z3, z4 = 0, 0, 0, 0
    for wi = 1, 4 do
        local w = x[wi]
        for k = 7, 0, -1 do
            local n = w % 16
            w = floor(w / 16)
            local e = t[(wi - 1) * 8 + k][n]
            if n ~= 0 then
                z1, z2, z3, z4 = bxor(z1, e[1]), bxor(z2, e[2]), bxor(z3, e[3]), bxor(z4, e[4])
            end
        end
    end
    return { z1, z2, z3, z4 }
end

local function ghash_update(t, y, data)
    local padded = data .. string.rep("\0", (16 - #data % 16) % 16)
    for at = 1, #padded, 16 do
        local x = words(padded, at)
        y = gf_mul(t, { bxor(y[1], x[1]), bxor(y[2], x[2]), bxor(y[3], x[3]), bxor(y[4], x[4]) })
    end
    return y
end

local function words_to_bytes(y)
    return be32(y[1]) .. be32(y[2]) .. be32(y[3]) .. be32(y[4])
end

-- Tables are built once per hash key; a few dozen keys are kept (each frame direction and
-- key generation has one).
local table_cache, table_count = {}, 0

local function tables_for(hkey)
    local t = table_cache[hkey]
    if not t then
        if table_count >= 64 then
            table_cache, table_count = {}, 0
        end
        t = ghash_tables(hkey)
        table_cache[hkey] = t
        table_count = table_count + 1
    end
    return t
end

-- SP 800-38D §6.4: GHASH_H(A ‖ 0^v ‖ C ‖ 0^u ‖ [len(A)]64 ‖ [len(C)]64).
function M.ghash(hkey, aad, ct)
    local t = tables_for(hkey)
    local y = ghash_update(t, { 0, 0, 0, 0 }, aad)
    y = ghash_update(t, y, ct)
    y = ghash_update(t, y, M.uint_bytes(#aad * 8, 8) .. M.uint_bytes(#ct * 8, 8))
    return words_to_bytes(y)
end

-- ---------------------------------------------------------------------------------------------
-- Poly1305 (RFC 8439 §2.5) over 13-bit limbs (every product fits a double exactly)
-- ---------------------------------------------------------------------------------------------

local LIMB = 8192 -- 2^13; ten limbs hold 130 bits

local function to_limbs(s)
    local limbs, cur, nbits, idx = {}, 0, 0, 0
    for i = 1, #s do
        cur = cur + byte(s, i) * 2 ^ nbits
        nbits = nbits + 8
        while nbits >= 13 do
            limbs[idx] = cur % LIMB
            cur = floor(cur / LIMB)
            nbits = nbits - 13
            idx = idx + 1
        end
    end
    while idx < 10 do
        limbs[idx] = cur % LIMB
        cur = floor(cur / LIMB)
        idx = idx + 1
    end
    return limbs
end

local function carry(h)
    for _ = 1, 2 do
        local c = 0
        for i = 0, 9 do
            local v = h[i] + c
            h[i] = v % LIMB
            c = floor(v / LIMB)
        end
        h[0] = h[0] + c * 5 -- 2^130 = 5 (mod 2^130 - 5)
    end
    local c = floor(h[0] / LIMB)
    h[0] = h[0] % LIMB
    h[1] = h[1] + c
end

-- RFC 8439 §2.5.1: the tag of ``msg`` under the 32-byte one-time key.
function M.poly1305(key, msg)
    local rb = { byte(key, 1, 16) }
    -- RFC 8439 §2.5: clamp r.
    for _, i in ipairs({ 4, 8, 12, 16 }) do
        rb[i] = rb[i] % 16
    end
    for _, i in ipairs({ 5, 9, 13 }) do
        rb[i] = rb[i] - rb[i] % 4
    end
    local r = to_limbs(char(unpack(rb)))
    local h = {}
    for i = 0, 9 do
        h[i] = 0
    end
    for at = 1, #msg, 16 do
        local block = msg:sub(at, at + 15) .. "\1"
        local n = to_limbs(block)
        for i = 0, 9 do
            h[i] = h[i] + n[i]
        end
        local d = {}
        for k = 0, 9 do
            local sum = 0
            for i = 0, k do
                sum = sum + h[i] * r[k - i]
            end
            for i = k + 1, 9 do
                sum = sum + 5 * h[i] * r[k + 10 - i]
            end
            d[k] = sum
        end
        h = d
        carry(h)
    end
    carry(h)
    -- full reduction: h - p = h + 5 - 2^130
    local g, c = {}, 5
    for i = 0, 9 do
        local v = h[i] + c
        g[i] = v % LIMB
        c = floor(v / LIMB)
    end
    if c > 0 then
        h = g
    end
    -- serialize 128 low bits little-endian and add s (mod 2^128)
    local bytes, cur, nbits, idx = {}, 0, 0, 0
    for i = 0, 9 do
        cur = cur + h[i] * 2 ^ nbits
        nbits = nbits + 13
        while nbits >= 8 and idx < 16 do
            bytes[idx + 1] = cur % 256
            cur = floor(cur / 256)
            nbits = nbits - 8
            idx = idx + 1
        end
    end
    local out, cy = {}, 0
    for i = 1, 16 do
        local v = (bytes[i] or 0) + byte(key, 16 + i) + cy
        out[i] = char(v % 256)
        cy = floor(v / 256)
    end
    return concat(out)
end

-- Constant-time enough for a dissector: the tags are public once on the wire.
local function tags_equal(a, b)
    return #a == #b and a == b
end

-- ---------------------------------------------------------------------------------------------
-- AEAD backends
-- ---------------------------------------------------------------------------------------------

-- The AEADs of RFC 8548 §6 Table 3 by their two-byte id: key length, tag length 16.
M.AEADS = {
    [0x0001] = { name = "AEAD_AES_128_GCM", key_len = 16, kind = "gcm" },
    [0x0002] = { name = "AEAD_AES_256_GCM", key_len = 32, kind = "gcm" },
    [0x0010] = { name = "AEAD_CHACHA20_POLY1305", key_len = 32, kind = "chacha" },
}
M.TAG_LEN = 16

local ok_cipher, ossl_cipher = pcall(require, "openssl.cipher")
if not ok_cipher or type(ossl_cipher) ~= "table" or not ossl_cipher.new then
    ossl_cipher = nil
end

local function ossl_run(name, key, iv, data)
    local c = ossl_cipher.new(name)
    c:encrypt(key, iv, false)
    return (c:update(data) or "") .. (c:final() or "")
end

-- AES-GCM (SP 800-38D §7.2) from AES-ECB and AES-CTR: any IV length.
local function gcm_open_luaossl(key, iv, aad, ct, tag)
    local bits = #key * 8
    local ecb, ctr = "aes-" .. bits .. "-ecb", "aes-" .. bits .. "-ctr"
    local hkey = ossl_run(ecb, key, nil, string.rep("\0", 16))
    local j0
    if #iv == 12 then
        j0 = iv .. "\0\0\0\1"
    else
        j0 = M.ghash(hkey, "", iv)
    end
    local s = M.ghash(hkey, aad, ct)
    local expect = xor_bytes(ossl_run(ecb, key, nil, j0), s)
    if not tags_equal(expect, tag) then
        return nil
    end
    -- inc32: only the low 32 bits count; OpenSSL's CTR carries into the high 96 bits, so
    -- split the keystream where the low word would wrap.
    local head = j0:sub(1, 12)
    local low = (byte(j0, 13) * 16777216 + byte(j0, 14) * 65536 + byte(j0, 15) * 256 + byte(j0, 16) + 1) % TWO32
    local blocks = math.ceil(#ct / 16)
    local before = math.min(blocks, TWO32 - low)
    local pt = ossl_run(ctr, key, head .. be32(low), ct:sub(1, before * 16))
    if before < blocks then
        pt = pt .. ossl_run(ctr, key, head .. be32(0), ct:sub(before * 16 + 1))
    end
    return pt
end

-- RFC 8439 §2.8: ChaCha20-Poly1305 from OpenSSL's ChaCha20 (IV = counter LE ‖ nonce).
local function chacha_open_luaossl(key, nonce, aad, ct, tag)
    local otk = ossl_run("chacha20", key, "\0\0\0\0" .. nonce, string.rep("\0", 32))
    local function pad16(x)
        return string.rep("\0", (16 - #x % 16) % 16)
    end
    local mac_data = aad .. pad16(aad) .. ct .. pad16(ct)
        .. M.uint_bytes(#aad, 8, true) .. M.uint_bytes(#ct, 8, true)
    if not tags_equal(M.poly1305(otk, mac_data), tag) then
        return nil
    end
    return ossl_run("chacha20", key, "\1\0\0\0" .. nonce, ct)
end

local function gcrypt_open(aead, key, nonce, aad, ct, tag)
    local algo, mode
    if aead.kind == "gcm" then
        algo = (#key == 16) and GCRY_CIPHER_AES or GCRY_CIPHER_AES256
        mode = GCRY_CIPHER_MODE_GCM
    else
        algo, mode = GCRY_CIPHER_CHACHA20, GCRY_CIPHER_MODE_POLY1305
    end
    local c = GcryptCipher.open(algo, mode, 0)
    c:setkey(ByteArray.new(key, true))
    c:setiv(ByteArray.new(nonce, true))
    c:authenticate(ByteArray.new(aad, true))
    local pt = ""
    if ct ~= "" then
        pt = c:decrypt(nil, ByteArray.new(ct, true)):raw()
    end
    local result = c:checktag(ByteArray.new(tag, true))
    if result ~= 0 then
        return nil
    end
    return pt
end

-- What this Wireshark offers: a list of usable backend names, best first.
function M.available_backends()
    local list = {}
    if type(GcryptCipher) == "table" and GCRY_CIPHER_MODE_GCM and GCRY_CIPHER_MODE_POLY1305 then
        list[#list + 1] = "gcrypt"
    end
    if ossl_cipher then
        list[#list + 1] = "luaossl"
    end
    return list
end

-- ``wanted`` is "auto" or a backend name. Returns (name, nil) or (nil, reason).
function M.choose_backend(wanted)
    local list = M.available_backends()
    if wanted == "none" then
        return nil, "decryption is turned off (tcpcrypt.aead_backend = none)"
    end
    if wanted == nil or wanted == "auto" then
        if list[1] then
            return list[1], nil
        end
        return nil, "no AEAD implementation: Wireshark before 4.6 has no GcryptCipher Lua API "
            .. "and the luaossl module (Debian package lua-luaossl) did not load"
    end
    for _, name in ipairs(list) do
        if name == wanted then
            return name, nil
        end
    end
    return nil, "AEAD backend '" .. tostring(wanted) .. "' is not available here"
end

-- RFC 5116 decryption: the plaintext, or nil when the tag does not verify. ``sealed`` is the
-- ciphertext with its 16-byte tag at the end.
function M.aead_open(backend, aead_id, key, nonce, aad, sealed)
    local aead = M.AEADS[aead_id]
    if not aead or #sealed < M.TAG_LEN or #key ~= aead.key_len then
        return nil
    end
    local ct, tag = sealed:sub(1, #sealed - M.TAG_LEN), sealed:sub(#sealed - M.TAG_LEN + 1)
    if backend == "gcrypt" then
        local ok, pt = pcall(gcrypt_open, aead, key, nonce, aad, ct, tag)
        return ok and pt or nil
    elseif backend == "luaossl" then
        local fn = aead.kind == "gcm" and gcm_open_luaossl or chacha_open_luaossl
        local ok, pt = pcall(fn, key, nonce, aad, ct, tag)
        return ok and pt or nil
    end
    return nil
end

return M
