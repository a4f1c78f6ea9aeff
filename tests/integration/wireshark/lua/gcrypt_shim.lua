-- Test support: a stand-in for the GcryptCipher Lua API of Wireshark 4.6 and later (see
-- epan/wslua/wslua_gcrypt.c), for the AEAD modes the plugin uses, so that its "gcrypt" code
-- path runs on this older Wireshark. GCM and ChaCha20-Poly1305 are put together from
-- luaossl's block and stream ciphers and the plugin's own GHASH and Poly1305; load this
-- before hide_luaossl.lua and the plugin. The constants have libgcrypt's values. Wireshark
-- gives each script its own environment: the API goes into _G, where Wireshark's is.
local ossl = require("openssl.cipher")
local C = dofile(os.getenv("TCPINC_PLUGIN_DIR") .. "/tcpinc_crypto.lua")

local GCM, POLY1305 = 9, 10
_G.GCRY_CIPHER_AES, _G.GCRY_CIPHER_AES256, _G.GCRY_CIPHER_CHACHA20 = 7, 9, 316
_G.GCRY_CIPHER_MODE_GCM, _G.GCRY_CIPHER_MODE_POLY1305 = GCM, POLY1305

local function run(name, key, iv, data)
    local c = ossl.new(name)
    c:encrypt(key, iv, false)
    return (c:update(data) or "") .. (c:final() or "")
end

local function inc32(block)
    local low = ((block:byte(13) * 256 + block:byte(14)) * 256 + block:byte(15)) * 256 + block:byte(16)
    return block:sub(1, 12) .. C.uint_bytes((low + 1) % 4294967296, 4)
end

local function pad16(x)
    return string.rep("\0", (16 - #x % 16) % 16)
end

local Cipher = {}
Cipher.__index = Cipher

_G.GcryptCipher = {
    open = function(algo, mode, flags)
        return setmetatable({ algo = algo, mode = mode, aad = "", ct = "" }, Cipher)
    end,
}

function Cipher:setkey(ba) self.key = ba:raw() end
function Cipher:setiv(ba) self.iv = ba:raw() end
function Cipher:authenticate(ba) self.aad = self.aad .. ba:raw() end

function Cipher:_gcm()
    local bits = #self.key * 8
    local h = run("aes-" .. bits .. "-ecb", self.key, nil, string.rep("\0", 16))
    local j0 = #self.iv == 12 and (self.iv .. "\0\0\0\1") or C.ghash(h, "", self.iv)
    return h, j0, bits
end

function Cipher:decrypt(out, ba)
    local ct = ba:raw()
    self.ct = ct
    local pt
    if self.mode == GCM then
        local _, j0, bits = self:_gcm()
        pt = run("aes-" .. bits .. "-ctr", self.key, inc32(j0), ct)
    else
        pt = run("chacha20", self.key, "\1\0\0\0" .. self.iv, ct)
    end
    return ByteArray.new(pt, true)
end

function Cipher:checktag(ba)
    local tag, expect = ba:raw(), nil
    if self.mode == GCM then
        local h, j0, bits = self:_gcm()
        expect = C.xor_bytes(run("aes-" .. bits .. "-ecb", self.key, nil, j0), C.ghash(h, self.aad, self.ct))
    else
        local otk = run("chacha20", self.key, "\0\0\0\0" .. self.iv, string.rep("\0", 32))
        expect = C.poly1305(otk, self.aad .. pad16(self.aad) .. self.ct .. pad16(self.ct)
            .. C.uint_bytes(#self.aad, 8, true) .. C.uint_bytes(#self.ct, 8, true))
    end
    if expect == tag then
        return 0
    end
    return 10, "Checksum error"
end
