-- tcpinc_eno.lua: TCP-ENO (RFC 8547) as a passive observer sees it, for tcpinc.lua.
--
-- The same rules as the Python side, so that both give the same answers:
--   walk_options    <-> tcpinc_tools.wire.tcp_options.iter_tcp_options / syn_option_report
--   decode_option   <-> tcpinc_tools.wire.eno.decode_eno_option
--   negotiate       <-> tcpinc_tools.wire.eno.negotiate
--   Tracker         <-> tcpinc_tools.analysis.eno_analysis.EnoTracker
-- A helper loaded by tcpinc.lua with loadfile(); on its own it only returns a table.

local E = {}

local byte, char = string.byte, string.char

E.KIND_ENO = 69 -- RFC 8547 §11 Table 2
E.KIND_EXP = 253 -- RFC 4727, with the RFC 6994 ExID 0x454E (RFC 8547 §11)
E.EXID = "\69\78" -- 0x45 0x4e
E.KIND_TFO = 34 -- RFC 7413
E.OPTION_SPACE = 40 -- RFC 9293 §3.1
E.LEGACY_MINIMAL = "\253\4\69\78" -- LEGACY.md: fd 04 45 4e
E.GLOBAL_B, E.GLOBAL_A, E.GLOBAL_Z = 0x01, 0x02, 0x1c -- RFC 8547 §4.2 Fig. 5
E.TEP_MIN, E.V = 0x20, 0x80 -- RFC 8547 §4.1 Table 1
E.TEP_V1_MIN = 0xa0 -- RFC 8547 §4.4
E.RESUME_HALF = 9 -- RFC 8548 §3.5
E.RESUME_NONCE_MAX = 8 -- RFC 8548 §3.5
E.TLS_DRAFT_TEP = 0x30 -- draft-ietf-tcpinc-tcpeno-06 §10

-- RFC 8548 §7 Table 4; LEGACY.md: tcpcryptd 0.5 has the NIST curves only.
E.TCPCRYPT_TEPS = {
    rfc = { [0x21] = true, [0x22] = true, [0x23] = true, [0x24] = true },
    legacy = { [0x21] = true, [0x22] = true },
}

E.TEP_NAMES = {
    [0x20] = "experimental",
    [0x21] = "TCPCRYPT_ECDHE_P256",
    [0x22] = "TCPCRYPT_ECDHE_P521",
    [0x23] = "TCPCRYPT_ECDHE_Curve25519",
    [0x24] = "TCPCRYPT_ECDHE_Curve448",
    [0x30] = "TCP-use-TLS (draft)",
}

function E.tep_name(tep)
    tep = tep % 128
    if tep >= 0x70 then
        return "reserved"
    end
    return E.TEP_NAMES[tep]
end

-- RFC 9293 §3.1: EOL ends the list, NOP is one byte, others are kind, length, data.
-- Each option: {kind, offset (0-based), raw, data, err}; never fails.
function E.walk_options(data)
    local out, i, n = {}, 1, #data
    while i <= n do
        local kind = byte(data, i)
        if kind == 0 then
            local padding = data:sub(i + 1)
            local err = padding:find("[^%z]") and "tcp.option.data_after_eol" or nil
            out[#out + 1] = { kind = 0, offset = i - 1, raw = data:sub(i), data = padding, err = err }
            return out
        elseif kind == 1 then
            out[#out + 1] = { kind = 1, offset = i - 1, raw = "\1", data = "" }
            i = i + 1
        elseif i + 1 > n then
            out[#out + 1] = { kind = kind, offset = i - 1, raw = data:sub(i), data = "", err = "tcp.option.past_end" }
            return out
        else
            local len = byte(data, i + 1)
            if len < 2 then
                out[#out + 1] = { kind = kind, offset = i - 1, raw = data:sub(i), data = data:sub(i + 2), err = "tcp.option.bad_length" }
                return out
            end
            if i + len - 1 > n then
                out[#out + 1] = { kind = kind, offset = i - 1, raw = data:sub(i), data = data:sub(i + 2), err = "tcp.option.past_end" }
                return out
            end
            out[#out + 1] = { kind = kind, offset = i - 1, raw = data:sub(i, i + len - 1), data = data:sub(i + 2, i + len - 1) }
            i = i + len
        end
    end
    return out
end

-- RFC 8547 §4.1, §11.
function E.is_eno(opt)
    return opt.kind == E.KIND_ENO or (opt.kind == E.KIND_EXP and opt.data:sub(1, 2) == E.EXID)
end

-- The ENO options of an option area, and the option-space account of a SYN
-- (RFC 9293 §3.1; EOL counts one byte, its padding is free space).
function E.syn_report(data)
    local opts = E.walk_options(data)
    local enos, used, parts, anomalies = {}, 0, {}, {}
    for _, o in ipairs(opts) do
        if E.is_eno(o) then
            enos[#enos + 1] = o
        end
        used = used + (o.kind == 0 and 1 or #o.raw)
    end
    if #enos > 1 then
        anomalies[#anomalies + 1] = { "tcpeno.multiple_eno", #enos .. " ENO options in one SYN (treated as none, RFC 8547 §4.1)" }
    end
    local k69, k253 = false, false
    for _, o in ipairs(enos) do
        k69 = k69 or o.kind == E.KIND_ENO
        k253 = k253 or o.kind == E.KIND_EXP
    end
    if k69 and k253 then
        anomalies[#anomalies + 1] = { "tcpeno.mixed_kinds", "ENO under kind 69 and kind 253/ExID 0x454E in one segment (RFC 8547 §11)" }
    end
    if #enos > 0 then
        for _, o in ipairs(opts) do
            if o.kind == E.KIND_TFO and #o.data > 0 then
                anomalies[#anomalies + 1] = { "tcpeno.tfo_with_eno", "non-empty TFO option beside ENO (RFC 8547 §4.7)" }
            end
        end
    end
    return { options = opts, enos = enos, used = used, left = E.OPTION_SPACE - used, anomalies = anomalies }
end

local OPTION_NAMES = {
    [0] = "EOL", [1] = "NOP", [2] = "MSS", [3] = "window scale", [4] = "SACK-permitted",
    [5] = "SACK", [8] = "timestamps", [30] = "MPTCP", [34] = "TFO", [69] = "ENO",
}

function E.space_text(report, what)
    local parts = {}
    for _, o in ipairs(report.options) do
        if o.kind == 0 then
            parts[#parts + 1] = "EOL 1"
        else
            local name = OPTION_NAMES[o.kind] or ("kind " .. o.kind)
            if o.kind == E.KIND_EXP and E.is_eno(o) then
                name = "ENO (kind 253)"
            end
            parts[#parts + 1] = name .. " " .. #o.raw
        end
    end
    return string.format("%s uses %d of 40 option bytes (%s); %d left", what, report.used,
        table.concat(parts, ", "), report.left)
end

-- RFC 8547 §4.1-§4.4: decode one ENO option. Returns the option table, or nil plus an error
-- table {id, message, offset}. Suboptions: {tep, v, data, byte, length_byte, offset, len}
-- (offsets 0-based inside the option).
function E.decode_option(data, syn)
    if #data == 0 then
        return nil, { id = "tcpeno.truncated", msg = "no ENO option kind byte", offset = 0 }
    end
    local kind = byte(data, 1)
    if kind ~= E.KIND_ENO and kind ~= E.KIND_EXP then
        return nil, { id = "tcpeno.not_eno", msg = "option kind " .. kind .. " is not ENO", offset = 0 }
    end
    if #data < 2 then
        return nil, { id = "tcpeno.truncated", msg = "no ENO option length byte", offset = 1 }
    end
    local length = byte(data, 2)
    local header = kind == E.KIND_EXP and 4 or 2
    if length < header or length > E.OPTION_SPACE then
        return nil, { id = "tcpeno.bad_length", offset = 1,
            msg = string.format("ENO option length %d outside %d..%d", length, header, E.OPTION_SPACE) }
    end
    if kind == E.KIND_EXP then
        if #data < header then
            return nil, { id = "tcpeno.truncated", msg = "no room for the ExID", offset = 2 }
        end
        if data:sub(3, 4) ~= E.EXID then
            return nil, { id = "tcpeno.not_eno_exid", msg = "kind 253 with another ExID", offset = 2 }
        end
    end
    if length > #data then
        return nil, { id = "tcpeno.truncated", offset = 1,
            msg = string.format("ENO option length %d but %d bytes given", length, #data) }
    end
    local raw = data:sub(1, length)
    local opt = { kind = kind, syn = syn, raw = raw, header = header, contents = raw:sub(header + 1),
        dialect = kind == E.KIND_ENO and "rfc" or "legacy", subs = {}, globals = {} }
    if not syn then
        return opt
    end
    local i, n = header + 1, #raw
    while i <= n do
        local c = byte(raw, i)
        if c < E.TEP_MIN then
            -- RFC 8547 §4.2: only the first global suboption counts.
            opt.globals[#opt.globals + 1] = { value = c, offset = i - 1 }
            i = i + 1
        elseif c < E.V then
            opt.subs[#opt.subs + 1] = { tep = c, v = false, data = "", byte = c, offset = i - 1, len = 1 }
            i = i + 1
        elseif c < E.TEP_V1_MIN then
            -- RFC 8547 §4.4 Fig. 6-7: length byte, TEP with v=1, nnnnn + 1 data bytes.
            if i + 1 > n then
                return nil, { id = "tcpeno.ill_formed.length_overrun", offset = i - 1,
                    msg = string.format("length byte 0x%02x is the last byte of the option", c) }
            end
            local tb = byte(raw, i + 1)
            if tb < E.TEP_V1_MIN then
                return nil, { id = "tcpeno.ill_formed.length_then_non_tep", offset = i,
                    msg = string.format("length byte followed by 0x%02x, not a TEP with v=1", tb) }
            end
            local dlen = c % 32 + 1
            if i + 1 + dlen > n then
                return nil, { id = "tcpeno.ill_formed.length_overrun", offset = i - 1,
                    msg = string.format("length byte 0x%02x announces %d data bytes, %d left", c, dlen, n - i - 1) }
            end
            opt.subs[#opt.subs + 1] = { tep = tb % 128, v = true, data = raw:sub(i + 2, i + 1 + dlen),
                byte = tb, length_byte = c, offset = i - 1, len = 2 + dlen }
            i = i + 2 + dlen
        else
            -- RFC 8547 §4.4: without a length byte the data runs to the end of the option.
            opt.subs[#opt.subs + 1] = { tep = c % 128, v = true, data = raw:sub(i + 1), byte = c,
                offset = i - 1, len = n - i + 1 }
            i = n + 1
        end
    end
    opt.global = opt.globals[1] and opt.globals[1].value or nil
    opt.effective_global = opt.global or 0
    opt.b = opt.effective_global % 2 == 1
    opt.a = math.floor(opt.effective_global / 2) % 2 == 1
    opt.vacuous = #opt.subs == 0
    return opt
end

local function has_tep(opt, tep)
    for _, s in ipairs(opt.subs) do
        if s.tep == tep then
            return true
        end
    end
    return false
end

-- RFC 8547 §4.5 rule 3: tcpcrypt defines no repetition; LEGACY.md: one v=0 and one v=1.
local function repetition_ok(opt, tep, dialect)
    local n, nv, n0 = 0, 0, 0
    for _, s in ipairs(opt.subs) do
        if s.tep == tep then
            n = n + 1
            if s.v then nv = nv + 1 else n0 = n0 + 1 end
        end
    end
    if dialect == "rfc" then
        return n == 1
    end
    return nv <= 1 and n0 <= 1
end

local function pick(opt, tep, v)
    local last_same, last_match
    for _, s in ipairs(opt.subs) do
        if s.tep == tep then
            last_same = s
            if s.v == v then
                last_match = s
            end
        end
    end
    return last_match or last_same
end

-- RFC 8547 §4.3 (roles), §4.5 (negotiated TEP), §4.6 (fallback), §4.8 (transcript).
-- ``raw_a``: the active opener's SYN-form option bytes, ``raw_b`` the other host's (nil: none).
function E.negotiate(raw_a, raw_b, dialect)
    local out = { ok = false, dialect = dialect }
    if raw_a == nil or raw_b == nil then
        out.reason = "tcpeno.fallback.no_eno"
        return out
    end
    local opts, absent, detail = {}, false, nil
    for host, raw in ipairs({ raw_a, raw_b }) do
        local opt, err = E.decode_option(raw, true)
        if opt then
            if opt.dialect == dialect then
                opts[host] = opt
            else
                absent = true
            end
        elseif err.id == "tcpeno.not_eno" or err.id == "tcpeno.not_eno_exid" then
            absent = true
        else
            detail = detail or ("host " .. (host == 1 and "a" or "b") .. ": " .. err.id .. ": " .. err.msg)
        end
    end
    out.option_a, out.option_b = opts[1], opts[2]
    if absent then
        out.reason = "tcpeno.fallback.no_eno"
        return out
    end
    if detail or not opts[1] or not opts[2] then
        out.reason, out.detail = "tcpeno.fallback.ill_formed", detail
        return out
    end
    local oa, ob = opts[1], opts[2]
    out.global_a, out.global_b = oa.effective_global, ob.effective_global
    local a_is_A = true
    if dialect == "rfc" then
        if oa.b == ob.b then
            out.reason = "tcpeno.fallback.b_conflict"
            return out
        end
        a_is_A = not oa.b
    end
    local of_A, of_B = oa, ob
    if not a_is_A then
        of_A, of_B = ob, oa
    end
    out.a_is_A = a_is_A
    local sep = dialect == "legacy" and E.LEGACY_MINIMAL or ""
    out.transcript = of_A.raw .. sep .. of_B.raw .. sep
    if oa.vacuous or ob.vacuous then
        out.reason = "tcpeno.fallback.vacuous"
        return out
    end
    local chosen
    for i = #of_B.subs, 1, -1 do
        local s = of_B.subs[i]
        if has_tep(of_A, s.tep) and repetition_ok(of_A, s.tep, dialect) and repetition_ok(of_B, s.tep, dialect) then
            chosen = s
            break
        end
    end
    if not chosen then
        out.reason = "tcpeno.fallback.no_common_tep"
        return out
    end
    out.ok = true
    out.tep = chosen.tep
    out.tep_byte = chosen.byte
    out.sub_of_B = chosen
    out.sub_of_A = pick(of_A, chosen.tep, chosen.v)
    return out
end

-- RFC 8548 §3.2, §3.5: B sent the TEP with v=1 and A offered resumption too.
function E.resumed(sub_of_A, sub_of_B, dialect)
    if not sub_of_B.v then
        return false
    end
    if dialect == "legacy" then
        return #sub_of_A.data >= E.RESUME_HALF
    end
    return #sub_of_B.data >= E.RESUME_HALF and #sub_of_A.data >= E.RESUME_HALF
end

local function resume_mismatch(nego)
    if not E.TCPCRYPT_TEPS[nego.dialect][nego.tep] then
        return false
    end
    local b = nego.sub_of_B
    local b_resumes = b.v and (nego.dialect == "legacy" or #b.data >= E.RESUME_HALF)
    return b_resumes and #nego.sub_of_A.data < E.RESUME_HALF
end

-- -------------------------------------------------------------------------------------------
-- Tracker: one connection's handshake, segment by segment (side 1: client, 2: server)
-- -------------------------------------------------------------------------------------------

local Tracker = {}
Tracker.__index = Tracker

local function new_side()
    return { syn_count = 0, space_left = E.OPTION_SPACE, window_open = true, global_a = false }
end

function E.Tracker()
    return setmetatable({ sides = { new_side(), new_side() }, noted = {}, negotiated_done = false }, Tracker)
end

local FLAG_SYN, FLAG_RST, FLAG_ACK = 0x02, 0x04, 0x10

local function has(flags, bit)
    return math.floor(flags / bit) % 2 == 1
end

-- One segment; ``emit(id, text)`` reports a finding on this segment.
function Tracker:on_segment(side, number, flags, options, payload_len, emit)
    if has(flags, FLAG_RST) then
        return
    end
    local me, peer = self.sides[side], self.sides[3 - side]
    if has(flags, FLAG_SYN) then
        self:_syn(me, number, flags, options, payload_len, emit)
    elseif me.window_open then
        self:_non_syn(me, side, number, flags, options, emit)
    end
    if not has(flags, FLAG_SYN) then
        -- RFC 8547 §4.6: the peer stops sending ENO once it receives a non-SYN segment.
        peer.window_open = false
    end
end

function Tracker:_once(id, text, emit)
    if not self.noted[id] then
        self.noted[id] = true
        emit(id, text)
    end
end

function Tracker:_syn(me, number, flags, options, payload_len, emit)
    local ack = has(flags, FLAG_ACK)
    if not ack then
        me.syn_only = true
    end
    local first = me.syn_count == 0
    me.syn_count = me.syn_count + 1
    if not first and options == me.syn_options then
        -- an identical retransmission (or a simultaneous open's SYN-ACK repeating the SYN)
        if ack and not me.first_ack_done then
            me.first_ack_done = true
            me.ack_with_eno = me.syn_raw ~= nil
        end
        return
    end
    local report = E.syn_report(options)
    for _, a in ipairs(report.anomalies) do
        emit(a[1], a[2])
    end
    local enos = report.enos
    local raw = (enos[1] and not enos[1].err) and enos[1].raw or nil
    local what = ack and "SYN-ACK" or "SYN"
    if first then
        me.syn_options, me.syn_raw, me.syn_packet = options, raw, number
        me.multiple = #enos > 1
        me.space_left = report.left
    elseif me.syn_raw and #enos == 0 then
        me.dropped_at = me.dropped_at or number
        emit("tcpeno.syn_retransmit_without_eno", string.format(
            "%s at packet %d has no ENO option, the first one (packet %d) had; %d of 40 option bytes free",
            what, number, me.syn_packet, report.left))
    elseif raw ~= me.syn_raw or (#enos > 1) ~= me.multiple then
        me.changed_at = me.changed_at or number
        emit("tcpeno.syn_changed", string.format("%s carries %s, first %s", what,
            raw and E.hex(raw) or "none", me.syn_raw and E.hex(me.syn_raw) or "none"))
    end
    if ack and not me.first_ack_done then
        -- The SYN-ACK is the passive opener's first ACK segment (RFC 8547 §4.6).
        me.first_ack_done = true
        me.ack_with_eno = raw ~= nil
    end
    if #enos == 0 then
        if first then
            self:_nop_run(report.options, what, emit)
        end
        return
    end
    me.eno_kind = enos[1].kind
    if first then
        emit("tcpeno.option_space", E.space_text(report, what))
    end
    if raw and (first or raw ~= me.syn_raw) then
        self:_inspect(raw, me, emit)
    end
    if payload_len > 0 then
        -- RFC 8547 §4.7: tcpcrypt defines no SYN data.
        emit("tcpeno.syn_data", string.format("%s carries %d bytes of data", what, payload_len))
    end
end

-- RFC 8547 §6 Figure 11: a middlebox that strips an option by overwriting it leaves a run
-- of NOPs longer than alignment needs.
local NOP_RUN = 3

function Tracker:_nop_run(options, what, emit)
    local run, longest = 0, 0
    for _, o in ipairs(options) do
        run = o.kind == 1 and run + 1 or 0
        longest = math.max(longest, run)
    end
    if longest >= NOP_RUN then
        emit("tcpeno.option_overwritten", string.format("%s has %d NOP options in a row and no ENO option",
            what, longest))
    end
end

function Tracker:_non_syn(me, side, number, flags, options, emit)
    local good
    for _, o in ipairs(E.walk_options(options)) do
        if E.is_eno(o) and not o.err then
            good = good or o
        end
    end
    if good then
        me.eno_kind = good.kind
        local opt, err = E.decode_option(good.raw, false)
        if not opt then
            self:_once(err.id, err.msg, emit)
        elseif #opt.contents > 0 then
            -- RFC 8547 §4.1: tcpcrypt gives non-SYN contents no meaning.
            self:_once("tcpeno.nonsyn_contents", "contents " .. E.hex(opt.contents), emit)
        end
    elseif self:negotiated() then
        if not me.first_ack_done then
            -- RFC 8547 §4.6 rule 1: the receiver falls back.
            me.stripped_at = me.stripped_at or number
        else
            emit("tcpeno.missing_in_handshake", string.format(
                "%s segment at packet %d before it received a non-SYN segment",
                side == 1 and "client" or "server", number))
        end
    end
    if has(flags, FLAG_ACK) and not me.first_ack_done then
        me.first_ack_done = true
        me.ack_with_eno = good ~= nil
    end
end

function Tracker:_inspect(raw, me, emit)
    local opt, err = E.decode_option(raw, true)
    if not opt then
        emit(err.id, err.msg)
        return
    end
    if opt.kind == E.KIND_EXP then
        self:_once("tcpeno.legacy_kind", "option " .. E.hex(raw), emit)
    end
    if opt.global then
        me.global_a = opt.a
        if math.floor(opt.global / 4) % 8 ~= 0 then
            emit("tcpeno.global.reserved_bits", string.format("global suboption 0x%02x (z bits 0x%02x)",
                opt.global, opt.global - opt.global % 4 - math.floor(opt.global / 32) * 32))
        end
    end
    if #opt.globals > 1 then
        local ignored = {}
        for i = 2, #opt.globals do
            ignored[#ignored + 1] = char(opt.globals[i].value)
        end
        emit("tcpeno.global.ignored", "bytes " .. E.hex(table.concat(ignored)))
    end
    for _, s in ipairs(opt.subs) do
        if s.tep == E.TLS_DRAFT_TEP then
            self:_once("tcpeno.tls_draft_tep", string.format("suboption 0x%02x", s.byte), emit)
        end
        if s.v and E.TCPCRYPT_TEPS[opt.dialect][s.tep] then
            local limit = E.RESUME_HALF + (opt.dialect == "rfc" and E.RESUME_NONCE_MAX or 0)
            if #s.data > limit then
                emit("tcpcrypt.resume.too_long", string.format(
                    "%d bytes of resumption data; the %s dialect allows %d", #s.data, opt.dialect, limit))
            end
        end
    end
end

-- Segments still matter: some side's handshake window is open.
function Tracker:active()
    return self.sides[1].window_open or self.sides[2].window_open
end

-- Both SYN-form segments were seen and neither carried an ENO option.
function Tracker:plain()
    for _, x in ipairs(self.sides) do
        if x.syn_count == 0 or x.syn_raw or x.multiple or x.eno_kind then
            return false
        end
    end
    return true
end

-- The first tcpcrypt resumption suboption (v=1, at least the 9-byte identifier) of a side's
-- SYN-form option, and the packet that carried it.
function Tracker:resume_offer(side)
    local me = self.sides[side]
    if not me.syn_raw or not me.syn_packet then
        return nil
    end
    local opt = E.decode_option(me.syn_raw, true)
    if not opt then
        return nil
    end
    for _, s in ipairs(opt.subs) do
        if s.v and #s.data >= E.RESUME_HALF and E.TCPCRYPT_TEPS[opt.dialect][s.tep] then
            return s, me.syn_packet, opt.dialect
        end
    end
    return nil
end

-- A SYN from an active opener after the handshake is over: if it repeats the resumption
-- offer of the first SYN, the identifier is used again (RFC 8548 §3.5).
function Tracker:late_syn(side, number, options, emit)
    local sub, packet = self:resume_offer(side)
    if not sub then
        return
    end
    for _, o in ipairs(E.walk_options(options)) do
        if E.is_eno(o) and not o.err then
            local again = E.decode_option(o.raw, true)
            if not again then
                return
            end
            for _, s in ipairs(again.subs) do
                if s.v and s.tep == sub.tep and s.data == sub.data then
                    self:_once("tcpcrypt.resume.replay", string.format(
                        "the SYN at packet %d repeats the resumption offer of packet %d after that connection was established",
                        number, packet), emit)
                    return
                end
            end
            return
        end
    end
end

-- The smallest ENO option a side could have sent (RFC 8547 §4.1-§4.2): SYN `45 03 tep`;
-- SYN-ACK `45 04 01 tep`; legacy `fd 05 45 4e tep`.
local MIN_ENO = { rfc = { [false] = 3, [true] = 4 }, legacy = { [false] = 5, [true] = 5 } }

-- A side that sent no ENO option in its SYN-form segment though its peer did, and had no
-- room left for one: once both SYN-form segments are known.
function Tracker:space_warnings(emit)
    if self.space_checked or self.sides[1].syn_count == 0 or self.sides[2].syn_count == 0 then
        return
    end
    self.space_checked = true
    local dialect = self:dialect()
    for i, me in ipairs(self.sides) do
        local peer = self.sides[3 - i]
        if not me.syn_raw and not me.multiple and peer.syn_raw then
            local synack = not me.syn_only
            local need = MIN_ENO[dialect][synack]
            if me.space_left < need then
                emit("tcpeno.option_space_exhausted", string.format(
                    "%s without ENO has %d of 40 option bytes free; the smallest ENO option it could send takes %d",
                    synack and "SYN-ACK" or "SYN", me.space_left, need))
            end
        end
    end
end

function Tracker:dialect()
    for _, s in ipairs(self.sides) do
        local kind = s.syn_raw and byte(s.syn_raw, 1) or s.eno_kind
        if kind then
            return kind == E.KIND_EXP and "legacy" or "rfc"
        end
    end
    return "rfc"
end

function Tracker:simultaneous()
    return self.sides[1].syn_only and self.sides[2].syn_only
end

function Tracker:outcome()
    local c, s = self.sides[1], self.sides[2]
    if c.syn_count == 0 or s.syn_count == 0 or c.multiple or s.multiple then
        return nil
    end
    local dialect = self:dialect()
    if dialect == "legacy" and self:simultaneous() then
        return nil
    end
    return E.negotiate(c.syn_raw, s.syn_raw, dialect)
end

-- The SYN-level negotiation once both SYN-form options are known and it succeeded; decided
-- once (later segments may still make the connection fall back).
function Tracker:negotiated()
    if self.negotiated_done then
        return self.nego
    end
    local c, s = self.sides[1], self.sides[2]
    if c.syn_count == 0 or s.syn_count == 0 then
        return nil
    end
    self.negotiated_done = true
    local o = self:outcome()
    if o and o.ok then
        o.a_is_client = o.a_is_A
        o.resumed = E.resumed(o.sub_of_A, o.sub_of_B, o.dialect)
        self.nego = o
    end
    return self.nego
end

-- (reason, detail) when ENO fell back, else nil.
function Tracker:reason(outcome)
    local c, s = self.sides[1], self.sides[2]
    if c.multiple or s.multiple then
        return "tcpeno.fallback.multiple_eno"
    end
    if c.syn_count > 0 and s.syn_count > 0 and self:dialect() == "legacy" and self:simultaneous() then
        return "tcpeno.fallback.legacy_simultaneous_open"
    end
    if not outcome then
        return nil
    end
    if not outcome.ok then
        return outcome.reason, outcome.detail
    end
    local nego = self:negotiated()
    if nego and resume_mismatch(nego) then
        return "tcpcrypt.resume.mismatch", "B answered with a resumption suboption; A offered no resumption"
    end
    for _, x in ipairs(self.sides) do
        if x.changed_at then
            return "tcpeno.fallback.syn_changed"
        end
    end
    local who, at
    for i, x in ipairs(self.sides) do
        if x.stripped_at and (not at or x.stripped_at < at) then
            who, at = i, x.stripped_at
        end
    end
    if who then
        local me, peer = self.sides[who], self.sides[3 - who]
        local name = who == 1 and "client" or "server"
        if me.global_a and not peer.global_a then
            return "tcpeno.fallback.aa_mandatory", string.format(
                "the %s sent a=1, its peer a=0, and the %s dropped ENO at packet %d (mandatory application-aware mode, inferred)",
                name, name, at)
        end
        return "tcpeno.fallback.stripped", string.format("no ENO on the %s's packet %d", name, at)
    end
    return nil
end

-- What the connection looks like now: nil when no segment carried ENO, else a table with
-- status ("encrypted" | "fallback" | "incomplete"), reason, detail, dialect, a_is_client,
-- tep, tep_byte, transcript, global_a, global_b (by role), resumed.
function Tracker:state()
    local c, s = self.sides[1], self.sides[2]
    if not (c.syn_raw or c.eno_kind or s.syn_raw or s.eno_kind) then
        return nil
    end
    local outcome = self:outcome()
    local reason, detail = self:reason(outcome)
    local st = { dialect = self:dialect(), reason = reason, detail = detail }
    if reason then
        st.status = "fallback"
    elseif outcome and c.first_ack_done and c.ack_with_eno and s.ack_with_eno then
        st.status = "encrypted"
    else
        st.status = "incomplete"
    end
    if outcome and outcome.a_is_A ~= nil then
        st.a_is_client = outcome.a_is_A
        st.transcript = outcome.transcript
        if outcome.a_is_A then
            st.global_a, st.global_b = outcome.global_a, outcome.global_b
        else
            st.global_a, st.global_b = outcome.global_b, outcome.global_a
        end
    end
    if not reason and outcome and outcome.ok then
        st.tep, st.tep_byte = outcome.tep, outcome.tep_byte
        local nego = self:negotiated()
        st.resumed = nego and nego.resumed or false
    end
    return st
end

function E.hex(s)
    return (s:gsub(".", function(c) return string.format("%02x", byte(c)) end))
end

return E
