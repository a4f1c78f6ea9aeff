-- tcpinc_tcpcrypt.lua: tcpcrypt sessions for tcpinc.lua (RFC 8548 §3.3-§3.8, §4; LEGACY.md).
--
-- Pure logic, no Wireshark API: the state of a session and of each of its directions, the
-- kind and length of the PDU at a stream offset (Init1/Init2, frame, or bytes that are
-- neither), the Init messages' fields, the key schedule from a key log secret, and frame
-- decryption with trial of what the wire does not say (as tcpinc_tools.analysis.decrypt):
-- the AEAD and original roles of a resumed session, the frame-offset reading (DIGEST.md
-- T12). tcpinc.lua loads it with loadfile() and calls it with the crypto and ENO helpers;
-- loaded on its own (Wireshark runs every .lua file of its plugin folders) it only returns a
-- table.

local C, ENO = ...
local T = {}

local byte, char = string.byte, string.char
local floor = math.floor
local TCP_PSH = 0x08
local TAG_LEN = 16 -- RFC 5116 §5.1-§5.2, RFC 8439 §2.8

local INIT1_MAGIC, INIT2_MAGIC = "\21\16\26\14", "\9\113\5\224" -- RFC 8548 §4.3 Table 1
local INIT_MAX = 0x10000 -- the longest Init message followed (as the Python analyzer)
local MAX_TRIAL_FRAMES = 16 -- as tcpinc_tools.analysis.decrypt.MAX_TRIAL_FRAMES
local RFC_AEADS = { 0x0001, 0x0002, 0x0010 }
local LEGACY_AEADS = { 0x01, 0x02 } -- LEGACY.md: one-byte ids, the same numbers

-- RFC 8548 §5 / LEGACY.md: how a TEP puts its public key on the wire.
local PUBKEY = {
    rfc = {
        [0x21] = { len = 33, prefixed = true, first = { [2] = true, [3] = true } },
        [0x22] = { len = 67, prefixed = true, first = { [2] = true, [3] = true } },
        [0x23] = { len = 32 },
        [0x24] = { len = 56 },
    },
    legacy = {
        [0x21] = { len = 65, prefixed = true, first = { [4] = true } },
        [0x22] = { len = 133, prefixed = true, first = { [4] = true } },
    },
}

local function new_dir(side, is_A, resumed)
    return {
        side = side, is_A = is_A, next_pos = 0, phase = resumed and "frames" or "init",
        init_len = 0, generation = 0, trials = 0, decrypted = 0, early = {}, noted = {},
    }
end

-- The state of one tcpcrypt session, from the negotiation (tcpinc_eno's Tracker:negotiated()).
function T.new_session(nego)
    local a_is_client = nego.a_is_client
    local sess = {
        dialect = nego.dialect, tep = nego.tep, tep_byte = nego.tep_byte, resumed = nego.resumed,
        a_is_client = a_is_client, sub_of_A = nego.sub_of_A, sub_of_B = nego.sub_of_B,
        tk = {}, mk = {},
    }
    sess.dirs = {
        new_dir(1, a_is_client, nego.resumed),
        new_dir(2, not a_is_client, nego.resumed),
    }
    return sess
end

local function uint(s, i, n)
    local v = 0
    for k = i, i + n - 1 do
        v = v * 256 + byte(s, k)
    end
    return v
end

local function looks_like_text(s)
    local head = s:sub(1, 8)
    return #head >= 3 and not head:find("[^\t\n\r\32-\126]")
end

-- RFC 8548 §4.1: Init1 / Init2 (LEGACY.md: one-byte cipher ids, uncompressed points).
-- Returns {fields = {{name, offset, len, value?}}, n_a, ciphers, cipher, trailing, err}.
local function parse_init(msg, is_init1, tep, dialect)
    local out = { fields = {} }
    local function fld(name, off, len, value)
        out.fields[#out.fields + 1] = { name, off, len, value }
    end
    local pre = is_init1 and "tcpcrypt.init1." or "tcpcrypt.init2."
    local fmt = (PUBKEY[dialect] or {})[tep]
    fld(pre .. "magic", 0, 4)
    fld(pre .. "message_len", 4, 4)
    local width = dialect == "rfc" and 2 or 1
    local at = 8
    local function need(n)
        if at + n > #msg then
            out.err = { "tcpcrypt.init.bad_message_len", string.format(
                "%s message_len %d is below the bytes its fields need", is_init1 and "init1" or "init2", #msg) }
            return false
        end
        return true
    end
    if is_init1 then
        if not need(1) then return out end
        local k = byte(msg, at + 1)
        fld(pre .. "nciphers", at, 1)
        at = at + 1
        out.ciphers = {}
        if not need(width * k) then return out end
        for _ = 1, k do
            local c = uint(msg, at + 1, width)
            out.ciphers[#out.ciphers + 1] = c
            fld(pre .. "sym_cipher", at, width, c)
            at = at + width
        end
        if not need(32) then return out end
        out.n_a = msg:sub(at + 1, at + 32)
        fld(pre .. "n_a", at, 32)
        at = at + 32
    else
        if not need(width) then return out end
        out.cipher = uint(msg, at + 1, width)
        fld(pre .. "sym_cipher", at, width, out.cipher)
        at = at + width
        if not need(32) then return out end
        out.n_b = msg:sub(at + 1, at + 32)
        fld(pre .. "n_b", at, 32)
        at = at + 32
    end
    if not fmt then
        out.err = { "tcpcrypt.unknown_tep", string.format("TEP 0x%02x is not a tcpcrypt TEP of the %s dialect", tep, dialect) }
        return out
    end
    local pub = is_init1 and "pub_a" or "pub_b"
    if fmt.prefixed then
        if not need(2) then return out end
        local plen = uint(msg, at + 1, 2)
        fld(pre .. "pubkey_len", at, 2)
        if plen < 2 or at + plen > #msg then
            out.err = { "tcpcrypt.init.bad_pubkey_len", string.format("pubkey_len %d is below 2 or runs past message_len", plen) }
            return out
        end
        if plen - 2 ~= fmt.len then
            out.err = { "tcpcrypt.init.bad_pubkey", string.format("%d-byte key, the %s dialect needs %d", plen - 2, dialect, fmt.len) }
            return out
        end
        at = at + 2
        fld(pre .. pub, at, fmt.len)
        if fmt.first and not fmt.first[byte(msg, at + 1)] then
            out.err = { "tcpcrypt.init.bad_pubkey", string.format("key starts with %02x", byte(msg, at + 1)) }
        end
        at = at + fmt.len
    else
        if not need(fmt.len) then return out end
        fld(pre .. pub, at, fmt.len)
        at = at + fmt.len
    end
    if at < #msg then
        fld("tcpcrypt.init.ignored", at, #msg - at)
        out.trailing = #msg - at
    end
    return out
end

-- RFC 8548 §3.3-§3.5: ss, session ID and the candidate keys, once the secret is known.
-- ``env``: the capture's key log (keylog, keylog_path), AEAD backend (backend, backend_why)
-- and the notes given once per capture (noted).
local function settle_keys(sess, env, res)
    if sess.keys_settled then
        return
    end
    local path, keylog = env.keylog_path, env.keylog
    if path == "" then
        return
    end
    if keylog.load_error or #keylog.errors > 0 then
        if not env.noted.keylog then
            env.noted.keylog = true
            if keylog.load_error then
                res.experts[#res.experts + 1] = { "tcpinc.keylog.note", keylog.load_error }
            else
                res.experts[#res.experts + 1] = { "tcpinc.keylog.bad_line", string.format("%s (%d unusable line(s))",
                    keylog.errors[1], #keylog.errors) }
            end
        end
    end
    local ss, client_key_options, aeads, sn = nil, nil, nil, ""
    local function lookup()
        if not sess.resumed then
            local i1 = sess.init1
            if not i1 or not i1.n_a then
                return nil
            end
            return keylog:ss_for_init1(i1.n_a)
        end
        if sess.dialect == "legacy" then
            return keylog:ss_for_legacy_resume(sess.sub_of_A.data:sub(1, ENO.RESUME_HALF))
        end
        local da, db = sess.sub_of_A.data, sess.sub_of_B.data
        local ha, hb = da:sub(1, ENO.RESUME_HALF), db:sub(1, ENO.RESUME_HALF)
        local hc, hs = ha, hb
        if not sess.a_is_client then
            hc, hs = hb, ha
        end
        local m = keylog:ss_for_resume(hc, hs)
        if not m then
            return nil
        end
        -- RFC 8548 §3.5: sn[i] = nonce_a | nonce_b by the roles of the original session.
        local na, nb = da:sub(ENO.RESUME_HALF + 1), db:sub(ENO.RESUME_HALF + 1)
        local client_was_A = m.client_was_A
        local a_was_A = (client_was_A == sess.a_is_client)
        sn = a_was_A and (na .. nb) or (nb .. na)
        sess.client_key = client_was_A and "ab" or "ba"
        return m.ss
    end
    ss = lookup()
    if not ss and keylog:load(path) then
        ss = lookup() -- the file grew (a live capture): read it again once
    end
    sess.keys_settled = true
    if not ss then
        if not keylog.load_error then
            res.experts[#res.experts + 1] = { "tcpcrypt.no_key", sess.resumed
                and "no secret for the resumption identifier"
                or ("N_A " .. C.tohex(sess.init1 and sess.init1.n_a or "")) }
        end
        return
    end
    if not env.backend then
        if not env.noted.backend then
            env.noted.backend = true
            res.experts[#res.experts + 1] = { "tcpinc.keylog.note",
                "the key log is set but frames cannot be decrypted: " .. env.backend_why }
        end
        return
    end
    sess.ss, sess.sn, sess.backend = ss, sn, env.backend
    -- RFC 8548 §3.4: session_id[i] = TEP-byte | CPRF(ss[i], CONST_SESSID | sn[i], K_LEN).
    sess.session_id = char(sess.tep_byte) .. C.cprf(ss, "\2" .. sn, 32)
    -- RFC 8548 §3.3: mk[0] = CPRF(ss[i], CONST_REKEY | sn[i], K_LEN).
    sess.mk[0] = C.cprf(ss, "\3" .. sn, 32)
    local cands = {}
    if not sess.resumed then
        if sess.init2 and sess.init2.cipher then
            -- LEGACY.md's one-byte ids 0x01 / 0x02 have the numbers of the RFC's two-byte ones
            aeads = { sess.init2.cipher }
        else
            aeads = sess.init1.ciphers or {}
        end
        -- RFC 8548 §3.3: in a fresh session A encrypts with k_ab.
        client_key_options = { sess.a_is_client and "ab" or "ba" }
    else
        aeads = sess.dialect == "legacy" and LEGACY_AEADS or RFC_AEADS
        client_key_options = sess.client_key and { sess.client_key } or { "ab", "ba" }
    end
    for _, a in ipairs(aeads) do
        if C.AEADS[a] and (sess.dialect == "rfc" or a <= 2) then
            for _, ck in ipairs(client_key_options) do
                cands[#cands + 1] = { aead = a, client_key = ck }
            end
        end
    end
    sess.candidates = cands
end

-- RFC 8548 §3.3, §3.8: k_ab[j], k_ba[j] from mk[j] (LEGACY.md: 32-byte K_AB / K_BA).
local function traffic_keys(sess, aead, gen)
    local per = sess.tk[aead]
    if not per then
        per = {}
        sess.tk[aead] = per
    end
    if per[gen] then
        return per[gen]
    end
    for j = 1, gen do
        if not sess.mk[j] then
            sess.mk[j] = C.cprf(sess.mk[j - 1], "\3", 32)
        end
    end
    local len = sess.dialect == "legacy" and 32 or (C.AEADS[aead].key_len + 12)
    local mk = sess.mk[gen]
    per[gen] = { ab = C.cprf(mk, "\4", len), ba = C.cprf(mk, "\5", len) }
    return per[gen]
end

local function try_open(sess, dir, cand, base, gen, pos, header, sealed)
    local off = pos - base
    if off < 0 then
        return nil
    end
    local aead = C.AEADS[cand.aead]
    local keys = traffic_keys(sess, cand.aead, gen)
    local which = cand.client_key
    if dir.side == 2 then
        which = which == "ab" and "ba" or "ab"
    end
    local tk = keys[which]
    local key, nonce = tk:sub(1, aead.key_len), nil
    if sess.dialect == "legacy" then
        -- LEGACY.md: the frame offset, 8 bytes little-endian.
        nonce = C.uint_bytes(off, 8, true)
    else
        -- RFC 8548 §3.6, §4.2.3: N = zero-pad(offset, 12) XOR NR.
        nonce = C.xor_bytes(C.uint_bytes(off, 12), tk:sub(aead.key_len + 1, aead.key_len + 12))
    end
    return C.aead_open(sess.backend, cand.aead, key, nonce, header, sealed)
end

local function readings(sess, dir)
    if sess.resumed or dir.init_len == 0 then
        return { 0 }
    end
    if sess.dialect == "rfc" then
        return { 0, dir.init_len }
    end
    return { dir.init_len, 0 }
end

-- The plaintext of a frame, the key generation that opened it; nil when it does not open.
local function open_frame(sess, dir, pos, frame)
    local cands = sess.candidates
    if not cands or #cands == 0 then
        return nil
    end
    local header, sealed = frame:sub(1, 3), frame:sub(4)
    if dir.chosen then
        return try_open(sess, dir, cands[dir.chosen], dir.reading, dir.generation, pos, header, sealed)
    end
    if dir.gave_up then
        return nil
    end
    dir.trials = dir.trials + 1
    local order = {}
    local other = sess.dirs[3 - dir.side]
    if other.chosen then
        order[1] = other.chosen
    end
    for i = 1, #cands do
        if i ~= other.chosen then
            order[#order + 1] = i
        end
    end
    for _, ci in ipairs(order) do
        for _, b in ipairs(readings(sess, dir)) do
            local pt = try_open(sess, dir, cands[ci], b, dir.generation, pos, header, sealed)
            if pt then
                dir.chosen, dir.reading = ci, b
                return pt, true
            end
        end
    end
    if dir.trials >= MAX_TRIAL_FRAMES then
        dir.gave_up = true
    end
    return nil
end

-- What starts at stream offset ``pos`` of a direction (``head``: up to 8 bytes from there,
-- ``avail``: the bytes the segment holds from there): the PDU kind and its length.
function T.classify(dir, pos, head, avail)
    if dir.phase == "opaque" then
        return "opaque", avail
    end
    if pos < dir.next_pos then
        return "dup", math.min(avail, dir.next_pos - pos)
    end
    if dir.phase == "init" then
        local want = dir.is_A and INIT1_MAGIC or INIT2_MAGIC
        if head:sub(1, 4) ~= want then
            return looks_like_text(head) and "plaintext" or "bad_magic", avail
        end
        local mlen = uint(head, 5, 4)
        if mlen < 8 or mlen > INIT_MAX then
            return "bad_length", avail
        end
        return "init", mlen
    end
    local control = byte(head, 1)
    local clen = uint(head, 2, 2)
    if control > 1 and looks_like_text(head) then
        return "plaintext", avail
    end
    if clen < TAG_LEN then
        return "malformed", avail
    end
    return "frame", 3 + clen
end

-- What a PDU (classified as ``m``, its bytes ``bytes``) is, what it does to the session, and
-- what to show: the result the dissector renders, with its expert infos ({id, text}).
-- ``ctx``: sess, dir, n (frame number), flags (TCP flags), env (see settle_keys).
function T.process(ctx, m, bytes)
    local sess, dir = ctx.sess, ctx.dir
    local res = { kind = m.kind, pos = m.pos, len = m.len, experts = {}, is_A = dir.is_A }
    local function ex(id, text)
        res.experts[#res.experts + 1] = { id, text }
    end
    local name = dir.is_A and "A→B" or "B→A"
    if m.gap then
        ex("tcpcrypt.resync", string.format(
            "%s: %d bytes missing before offset %d (not captured, or out of order: set "
            .. "tcp.reassemble_out_of_order); delimiting resumes at this segment", name, m.gap, m.pos))
    end
    if m.kind == "dup" then
        return res
    end
    dir.next_pos = math.max(dir.next_pos, m.pos + m.len)
    if m.kind == "init" then
        local is1 = dir.is_A
        local info = parse_init(bytes, is1, sess.tep, sess.dialect)
        res.init = info
        res.is_init1 = is1
        dir.init_len = m.len
        dir.phase = "frames"
        if is1 then
            sess.init1 = info
        else
            sess.init2 = info
        end
        if info.err then
            ex(info.err[1], info.err[2])
        end
        if info.trailing then
            ex("tcpcrypt.init.trailing", string.format("%s: %d bytes", is1 and "Init1" or "Init2", info.trailing))
        end
        if floor(ctx.flags / TCP_PSH) % 2 == 0 then
            -- RFC 8548 §3.3: the segment with the message's last byte MUST have PSH set.
            ex("tcpcrypt.init.missing_psh", string.format("%s ends at stream offset %d in a segment without PSH",
                is1 and "Init1" or "Init2", m.pos + m.len))
        end
        if sess.init1 and sess.init2 and sess.init1.ciphers and sess.init2.cipher then
            local c, offered = sess.init2.cipher, false
            for _, x in ipairs(sess.init1.ciphers) do
                offered = offered or x == c
            end
            if not offered then
                ex("tcpcrypt.cipher_not_offered", string.format("Init2 chose 0x%04x", c))
            elseif not C.AEADS[c] then
                ex("tcpcrypt.unknown_aead", string.format("0x%04x", c))
            end
        end
        return res
    end
    if m.kind == "bad_magic" or m.kind == "bad_length" or m.kind == "plaintext" and dir.phase == "init" then
        dir.phase = "opaque"
    end
    if m.kind == "bad_magic" then
        ex(dir.is_A and "tcpcrypt.init1.bad_magic" or "tcpcrypt.init2.bad_magic",
            string.format("%s stream opens with %s", name, C.tohex(bytes:sub(1, 4))))
        return res
    elseif m.kind == "bad_length" then
        local mlen = uint(bytes, 5, 4)
        ex(mlen > INIT_MAX and "tcpcrypt.init.too_long" or "tcpcrypt.init.bad_message_len",
            string.format("%s message_len %d", dir.is_A and "init1" or "init2", mlen))
        return res
    elseif m.kind == "plaintext" then
        ex("tcpcrypt.plaintext_after_enable", string.format("%s stream at offset %d: %q", name, m.pos, bytes:sub(1, 16)))
        res.cleartext = true
        return res
    elseif m.kind == "malformed" then
        ex("tcpcrypt.malformed_frame", string.format("%s frame at offset %d has clen %d, below the tag",
            name, m.pos, uint(bytes, 2, 2)))
        return res
    elseif m.kind == "opaque" then
        return res
    end
    -- an encryption frame (RFC 8548 §4.2)
    local control = byte(bytes, 1)
    res.rekey = control % 2 == 1
    if res.rekey then
        -- RFC 8548 §3.8: the first frame under the next key generation.
        dir.generation = dir.generation + 1
    end
    res.generation = dir.generation
    if control > 1 and not dir.noted.cres then
        dir.noted.cres = true
        ex("tcpcrypt.frame.reserved_bits", string.format("%s control 0x%02x at offset %d", name, control, m.pos))
    end
    settle_keys(sess, ctx.env, res)
    if sess.session_id then
        res.session_id = sess.session_id
    end
    if not sess.candidates then
        return res
    end
    local pt, first = open_frame(sess, dir, m.pos, bytes)
    local other = sess.dirs[3 - dir.side]
    if not pt then
        if dir.chosen or other.chosen then
            ex("tcpcrypt.tag_failure", string.format("%s frame at offset %d, key generation %d", name, m.pos, dir.generation))
        elseif dir.gave_up and not sess.mismatch_noted then
            sess.mismatch_noted = true
            ex("tcpcrypt.key_mismatch", string.format("no frame authenticates under the logged secret (%d frames tried)", dir.trials))
        else
            dir.early[#dir.early + 1] = ctx.n
        end
        res.decrypt_failed = true
        return res
    end
    local cand = sess.candidates[dir.chosen]
    res.aead = C.AEADS[cand.aead].name
    res.nonce_offset = m.pos - dir.reading
    if first then
        if dir.reading ~= readings(sess, dir)[1] and not sess.reading_noted then
            sess.reading_noted = true
            ex("tcpcrypt.offset_reading", string.format("%s frames decrypt with offsets counted %s", name,
                dir.reading == 0 and "from the first data byte (Init message included)" or "after the Init message"))
        end
        if #dir.early > 0 then
            ex("tcpcrypt.tag_failure", string.format("%s: earlier frames in packet(s) %s did not authenticate",
                name, table.concat(dir.early, ", ")))
            dir.early = {}
        end
    end
    dir.decrypted = dir.decrypted + 1
    res.pt = pt
    if #pt == 0 then
        ex("tcpcrypt.plaintext.truncated", string.format("%s frame at offset %d", name, m.pos))
        return res
    end
    local flags = byte(pt, 1)
    res.flags = flags
    res.fin = flags % 2 == 1
    local data_off = 1
    if sess.dialect == "rfc" and floor(flags / 2) % 2 == 1 then
        if #pt < 3 then
            ex("tcpcrypt.plaintext.truncated", string.format("%s frame at offset %d: URGp without the urgent field", name, m.pos))
            return res
        end
        res.urgent = uint(pt, 2, 2)
        data_off = 3
    end
    res.data_off = data_off
    if dir.fin_frame and not dir.noted.after_fin then
        dir.noted.after_fin = true
        ex("tcpcrypt.data_after_finp", string.format("%s frame at offset %d after the FINp frame (packet %d)",
            name, m.pos, dir.fin_frame))
    end
    if res.fin and not dir.fin_frame then
        dir.fin_frame = ctx.n
    end
    if flags >= 4 and not dir.noted.fres then
        dir.noted.fres = true
        ex("tcpcrypt.plaintext.reserved_bits", string.format("%s flags 0x%02x at offset %d", name, flags, m.pos))
    end
    return res
end

return T
