-- Test support: make luaossl unloadable for the scripts loaded after this one, as on a
-- system without the lua-luaossl package. (Scripts loaded before keep what they required.)
for _, name in ipairs({ "openssl.cipher", "openssl.hmac", "_openssl.cipher", "_openssl.hmac" }) do
    package.loaded[name] = nil
    package.preload[name] = function()
        error("luaossl hidden by the test")
    end
end
