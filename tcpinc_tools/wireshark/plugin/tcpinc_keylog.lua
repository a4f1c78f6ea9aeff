-- tcpinc_keylog.lua: the tcpcrypt key log (docs/keylog.md), for tcpinc.lua.
--
--   TCPCRYPT_SS_INIT1   <N_A, hex>            <ss[0], hex>
--   TCPCRYPT_SS_RESUME  <resumption id, hex>  <ss[i], hex>
--
-- Read leniently like tcpinc_tools.keylog.KeyLog: a malformed line is kept in ``errors`` (with
-- its line number) and the others are used; unknown labels are skipped; the first secret for a
-- key wins. From every secret the reader derives the later ones of its chain,
-- ss[i+1] = CPRF(ss[i], CONST_NEXTK, 32), and their resumption identifiers (RFC 8548 §3.5;
-- LEGACY.md), so that resumed sessions decrypt without lines of their own.
-- A helper loaded by tcpinc.lua with loadfile(); on its own it only returns a table.

local L = {}

L.MAX_CHAIN = 64 -- as tcpinc_tools.keylog.MAX_CHAIN
local K_LEN, N_A_LEN, RESUME_ID_LEN, LEGACY_ID_LEN, HALF = 32, 32, 18, 9, 9
local CONST_NEXTK, CONST_SESSID, CONST_RESUME = "\1", "\2", "\6" -- RFC 8548 §4.3 Table 1

local Log = {}
Log.__index = Log

-- ``crypto`` is the tcpinc_crypto module.
function L.new(crypto)
    return setmetatable({
        crypto = crypto, path = nil, size = -1, entries = {}, init1 = {}, resume = {},
        errors = {}, notes = {}, chained = false, halves = {}, legacy = {}, load_error = nil,
    }, Log)
end

local function file_size(path)
    local f = io.open(path, "rb")
    if not f then
        return nil
    end
    local size = f:seek("end")
    f:close()
    return size
end

-- (Re)read ``path`` when it is another file or its size changed. Returns true when the
-- contents changed.
function Log:load(path)
    if path == nil or path == "" then
        local changed = self.path ~= nil
        self.path, self.size = nil, -1
        self:_reset()
        return changed
    end
    local size = file_size(path)
    if path == self.path and size == self.size then
        return false
    end
    self.path, self.size = path, size or -1
    self:_reset()
    local f, err = io.open(path, "rb")
    if not f then
        self.load_error = "cannot read the key log " .. path .. ": " .. tostring(err)
        return true
    end
    local text = f:read("*a") or ""
    f:close()
    if text:find("%z") then
        self.load_error = path .. " is not a text key log (it holds NUL bytes)"
        return true
    end
    local number = 0
    for line in (text .. "\n"):gmatch("([^\n]*)\n") do
        number = number + 1
        self:_line(line:gsub("\r$", ""), number)
    end
    return true
end

function Log:_reset()
    self.entries, self.init1, self.resume = {}, {}, {}
    self.errors, self.notes, self.load_error = {}, {}, nil
    self.chained, self.halves, self.legacy = false, {}, {}
end

function Log:_error(number, msg)
    self.errors[#self.errors + 1] = string.format("%s:%d: %s", self.path, number, msg)
end

function Log:_line(line, number)
    local text = line:match("^%s*(.-)%s*$")
    if text == "" or text:sub(1, 1) == "#" then
        return
    end
    local fields = {}
    for w in text:gmatch("%S+") do
        fields[#fields + 1] = w
    end
    local label = fields[1]
    if not label:match("^[A-Z][A-Z0-9_]*$") then
        self:_error(number, "not a key log line (no LABEL at the start)")
        return
    end
    if label ~= "TCPCRYPT_SS_INIT1" and label ~= "TCPCRYPT_SS_RESUME" then
        self.notes[label] = true
        return
    end
    if #fields ~= 3 then
        self:_error(number, string.format("%s needs 2 fields, found %d", label, #fields - 1))
        return
    end
    local key, ss = self.crypto.fromhex(fields[2]:lower()), self.crypto.fromhex(fields[3]:lower())
    if not key or not ss then
        self:_error(number, "a field is not hex")
        return
    end
    if #ss ~= K_LEN then
        self:_error(number, string.format("the secret must be 32 bytes, found %d", #ss))
        return
    end
    if label == "TCPCRYPT_SS_INIT1" then
        if #key ~= N_A_LEN then
            self:_error(number, string.format("N_A must be 32 bytes, found %d", #key))
            return
        end
        if not self.init1[key] then
            self.init1[key] = ss
            self.entries[#self.entries + 1] = { label = label, key = key, ss = ss }
        end
    else
        if #key ~= RESUME_ID_LEN and #key ~= LEGACY_ID_LEN then
            self:_error(number, string.format("a resumption id is 18 or 9 bytes, found %d", #key))
            return
        end
        if not self.resume[key] then
            self.resume[key] = ss
            self.entries[#self.entries + 1] = { label = label, key = key, ss = ss }
        end
    end
end

-- ss[0] for the N_A of an Init1, or nil.
function Log:ss_for_init1(n_a)
    return self.init1[n_a]
end

-- Derive ss[1..MAX_CHAIN] of every line and index their resumption ids, once.
function Log:_chain()
    if self.chained then
        return
    end
    self.chained = true
    local C = self.crypto
    local function index(ss, gen, line)
        local rid = C.cprf(ss, CONST_RESUME, RESUME_ID_LEN)
        local a, b = rid:sub(1, HALF), rid:sub(HALF + 1)
        if not self.halves[a] then
            self.halves[a] = { ss = ss, half = "a", other = b, generation = gen, line = line }
        end
        if not self.halves[b] then
            self.halves[b] = { ss = ss, half = "b", other = a, generation = gen, line = line }
        end
        local lid = C.cprf(ss, CONST_SESSID, K_LEN):sub(1, LEGACY_ID_LEN)
        if not self.legacy[lid] then
            self.legacy[lid] = { ss = ss, generation = gen, line = line }
        end
    end
    for _, e in ipairs(self.entries) do
        local ss = e.ss
        if e.label == "TCPCRYPT_SS_RESUME" then
            -- the line's own id is what the wire shows, whatever the formula gives
            if #e.key == RESUME_ID_LEN then
                local a, b = e.key:sub(1, HALF), e.key:sub(HALF + 1)
                self.halves[a] = self.halves[a] or { ss = ss, half = "a", other = b, generation = 0, line = e }
                self.halves[b] = self.halves[b] or { ss = ss, half = "b", other = a, generation = 0, line = e }
            else
                self.legacy[e.key] = self.legacy[e.key] or { ss = ss, generation = 0, line = e }
            end
        end
        -- ss[0] of an INIT1 line secured its own session: its chain starts at ss[1].
        for gen = 1, L.MAX_CHAIN do
            ss = C.cprf(ss, CONST_NEXTK, K_LEN)
            index(ss, gen, e)
        end
    end
end

-- RFC 8548 §3.5: the secret of a resumed rfc session from the two identifier halves seen in
-- the SYNs (``half_client``, ``half_server``; either may be nil). Returns a match
-- {ss, client_was_A} or nil. ``client_was_A``: the client sent resume[i]{0..8}, so it was A
-- in the session that created ss[0] (DIGEST.md T11) and encrypts with k_ab.
function Log:ss_for_resume(half_client, half_server)
    local function find(h)
        if not h then
            return nil
        end
        local direct = self.halves[h]
        if direct then
            return direct
        end
        return nil
    end
    -- lines first: an 18-byte id as written
    for _, order in ipairs({ { half_client, half_server, true }, { half_server, half_client, false } }) do
        if order[1] and order[2] then
            local ss = self.resume[order[1] .. order[2]]
            if ss then
                return { ss = ss, client_was_A = order[3] }
            end
        end
    end
    self:_chain()
    local m = find(half_client)
    if m then
        return { ss = m.ss, client_was_A = m.half == "a" }
    end
    m = find(half_server)
    if m then
        return { ss = m.ss, client_was_A = m.half == "b" }
    end
    return nil
end

-- LEGACY.md: the secret for the 9-byte identifier of a legacy SYN, or nil.
function Log:ss_for_legacy_resume(id)
    local ss = self.resume[id]
    if ss then
        return ss
    end
    self:_chain()
    local m = self.legacy[id]
    return m and m.ss or nil
end

function Log:empty()
    return #self.entries == 0
end

return L
