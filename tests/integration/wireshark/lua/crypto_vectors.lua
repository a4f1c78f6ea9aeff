-- Test support: run the plugin's crypto helper on the vectors in $TCPINC_VECTORS and print
-- one line per vector: "<index> <result hex, or FAIL>".
--   sha256  MSG             -> SHA-256(MSG) in plain Lua
--   hmac    KEY MSG         -> HMAC-SHA256 in plain Lua, then with the chosen backend
--   cprf    KEY CONST LEN   -> CPRF (HKDF-Expand-SHA256)
--   ghash   H AAD CT        -> GHASH_H
--   poly    KEY MSG         -> Poly1305
--   open    BACKEND AEAD KEY NONCE AAD SEALED -> plaintext or FAIL
local dir = os.getenv("TCPINC_PLUGIN_DIR")
local C = dofile(dir .. "/tcpinc_crypto.lua")
local function h(x)
    if x == "-" then
        return ""
    end
    return C.fromhex(x)
end
local out = io.open(os.getenv("TCPINC_RESULTS"), "w")
local index = 0
for line in io.lines(os.getenv("TCPINC_VECTORS")) do
    local f = {}
    for w in line:gmatch("%S+") do
        f[#f + 1] = w
    end
    local r
    if f[1] == "sha256" then
        r = C.tohex(C.sha256_lua(h(f[2])))
    elseif f[1] == "hmac" then
        r = C.tohex(C.hmac_sha256_lua(h(f[2]), h(f[3]))) .. " " .. C.tohex(C.hmac_sha256(h(f[2]), h(f[3])))
    elseif f[1] == "cprf" then
        r = C.tohex(C.cprf(h(f[2]), h(f[3]), tonumber(f[4])))
    elseif f[1] == "ghash" then
        r = C.tohex(C.ghash(h(f[2]), h(f[3]), h(f[4])))
    elseif f[1] == "poly" then
        r = C.tohex(C.poly1305(h(f[2]), h(f[3])))
    elseif f[1] == "open" then
        local pt = C.aead_open(f[2], tonumber(f[3]), h(f[4]), h(f[5]), h(f[6]), h(f[7]))
        r = pt and C.tohex(pt) or "FAIL"
    end
    out:write(index .. " " .. (r == "" and "-" or r) .. "\n")
    index = index + 1
end
out:close()
