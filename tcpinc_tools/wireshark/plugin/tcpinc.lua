-- tcpinc.lua: Wireshark / tshark dissector for TCP-ENO (RFC 8547) and tcpcrypt (RFC 8548).
--
-- Part of tcpinc_tools. Install with `tcpinc wireshark install`, or load for one run with
--   tshark -X lua_script:/path/to/tcpinc.lua -o tcpcrypt.keylog_file:session.keys -r cap.pcap
--
-- Protocols
--   tcpeno    the ENO option in the "tcp.option" table: kind 69, and kind 253 with ExID 0x454E
--             (kind 253 with another ExID goes back to Wireshark's own dissector); per
--             connection the negotiation outcome, roles, transcript and TEP, shown on every
--             packet of the connection by a postdissector.
--   tcpcrypt  the TCP payload of connections where ENO negotiated a tcpcrypt TEP: Init1,
--             Init2 and encryption frames, delimited across segments with dissect_tcp_pdus();
--             with a key log (preference tcpcrypt.keylog_file, default $TCPCRYPT_KEYLOG_FILE)
--             the frames are decrypted and their data handed to Wireshark's heuristic and
--             port dissectors (HTTP inside tcpcrypt shows as HTTP).
--
-- The field names and expert ids come from tcpinc_fields.lua, generated from the Python
-- registry (tcpinc_tools/analysis/registry.py), so a filter written for Wireshark and a
-- finding id in `tcpinc analyze --json` are the same string.
--
-- Helpers, loaded from this file's folder: tcpinc_fields.lua, tcpinc_crypto.lua,
-- tcpinc_eno.lua, tcpinc_keylog.lua, tcpinc_tcpcrypt.lua.

local VERSION = "0.1.0"

if rawget(_G, "TCPINC_PLUGIN") then
    -- A second copy (for example the installed plugin and a -X lua_script of another one):
    -- the protocols are registered already, the first copy stays in charge. (Wireshark gives
    -- each script an environment of its own; the marker goes into the shared _G.)
    return
end

local function script_dir()
    local info = debug.getinfo(1, "S")
    local src = info and info.source or ""
    if src:sub(1, 1) == "@" then
        src = src:sub(2)
    end
    return src:match("^(.*)[/\\][^/\\]*$") or "."
end

local DIR = script_dir()

local function helper(name, ...)
    local path = DIR .. "/" .. name .. ".lua"
    local chunk, err = loadfile(path)
    if not chunk then
        error("tcpinc: cannot load " .. path .. ": " .. tostring(err))
    end
    return chunk(...)
end

local C = helper("tcpinc_crypto")
local ENO = helper("tcpinc_eno")
local KEYLOG = helper("tcpinc_keylog")
local GEN = helper("tcpinc_fields")
local TC = helper("tcpinc_tcpcrypt", C, ENO)

rawset(_G, "TCPINC_PLUGIN", { version = VERSION, dir = DIR })

local byte, char = string.byte, string.char
local floor = math.floor

local function has(flags, bit)
    return floor(flags / bit) % 2 == 1
end

local TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x04, 0x08, 0x10
local PT_TCP = 2 -- epan/address.h port_type

-- ---------------------------------------------------------------------------------------------
-- Protocols, fields, expert infos, preferences
-- ---------------------------------------------------------------------------------------------

local p_eno = Proto("tcpeno", "TCP Encryption Negotiation Option (TCP-ENO, RFC 8547)")
local p_crypt = Proto("tcpcrypt", "tcpcrypt (RFC 8548)")
-- The postdissector that shows each connection's ENO state on all of its packets.
local p_conv = Proto("tcpinc", "TCPINC connection state (TCP-ENO and tcpcrypt)")

local TEP_VALS = {}
for tep = 0x20, 0x7f do
    TEP_VALS[tep] = ENO.tep_name(tep)
end
local AEAD_VALS = {}
for id, a in pairs(C.AEADS) do
    AEAD_VALS[id] = a.name
end

local TYPES = {
    none = ftypes.NONE, uint8 = ftypes.UINT8, uint16 = ftypes.UINT16, uint32 = ftypes.UINT32,
    uint64 = ftypes.UINT64, bool = ftypes.BOOLEAN, bytes = ftypes.BYTES, string = ftypes.STRING,
    framenum = ftypes.FRAMENUM,
}

-- How each field is shown: label, base, bit mask, value names. The names, types and
-- descriptions come from the registry.
local SHOW = {
    ["tcpeno.kind"] = { label = "Kind" },
    ["tcpeno.length"] = { label = "Length" },
    ["tcpeno.exid"] = { label = "ExID", base = base.HEX },
    ["tcpeno.syn_form"] = { label = "SYN form" },
    ["tcpeno.contents"] = { label = "Contents" },
    ["tcpeno.global"] = { label = "Global suboption", base = base.HEX },
    ["tcpeno.global.b"] = { label = "b (passive role)", mask = 0x01 },
    ["tcpeno.global.a"] = { label = "a (application-aware)", mask = 0x02 },
    ["tcpeno.global.z"] = { label = "z1-z3 (reserved)", base = base.HEX, mask = 0x1c },
    ["tcpeno.suboption"] = { label = "Suboption" },
    ["tcpeno.suboption.length_byte"] = { label = "Length byte", base = base.HEX },
    ["tcpeno.suboption.v"] = { label = "v (suboption data follows)", mask = 0x80 },
    ["tcpeno.suboption.data"] = { label = "Suboption data" },
    ["tcpeno.tep"] = { label = "TEP", base = base.HEX, mask = 0x7f, vals = TEP_VALS },
    ["tcpeno.role"] = { label = "Role of the sender" },
    ["tcpeno.status"] = { label = "Status" },
    ["tcpeno.reason"] = { label = "Fallback reason" },
    ["tcpeno.negotiated_tep"] = { label = "Negotiated TEP", base = base.HEX, vals = TEP_VALS },
    ["tcpeno.negotiated_tep_byte"] = { label = "Negotiated TEP byte (as B sent it)", base = base.HEX },
    ["tcpeno.transcript"] = { label = "Transcript" },
    ["tcpeno.option_space.used"] = { label = "SYN option space used" },
    ["tcpeno.option_space.left"] = { label = "SYN option space left" },
    ["tcpcrypt.resume.half"] = { label = "Resumption identifier half" },
    ["tcpcrypt.resume.nonce"] = { label = "Resumption nonce" },
    ["tcpcrypt.init1"] = { label = "Init1" },
    ["tcpcrypt.init1.magic"] = { label = "INIT1_MAGIC", base = base.HEX },
    ["tcpcrypt.init1.message_len"] = { label = "message_len" },
    ["tcpcrypt.init1.nciphers"] = { label = "nciphers" },
    ["tcpcrypt.init1.sym_cipher"] = { label = "sym_cipher", base = base.HEX, vals = AEAD_VALS },
    ["tcpcrypt.init1.n_a"] = { label = "N_A" },
    ["tcpcrypt.init1.pubkey_len"] = { label = "pubkey_len" },
    ["tcpcrypt.init1.pub_a"] = { label = "Pub_A" },
    ["tcpcrypt.init2"] = { label = "Init2" },
    ["tcpcrypt.init2.magic"] = { label = "INIT2_MAGIC", base = base.HEX },
    ["tcpcrypt.init2.message_len"] = { label = "message_len" },
    ["tcpcrypt.init2.sym_cipher"] = { label = "sym_cipher", base = base.HEX, vals = AEAD_VALS },
    ["tcpcrypt.init2.n_b"] = { label = "N_B" },
    ["tcpcrypt.init2.pubkey_len"] = { label = "pubkey_len" },
    ["tcpcrypt.init2.pub_b"] = { label = "Pub_B" },
    ["tcpcrypt.init.ignored"] = { label = "Ignored bytes" },
    ["tcpcrypt.frame"] = { label = "Frame" },
    ["tcpcrypt.frame.control"] = { label = "control", base = base.HEX },
    ["tcpcrypt.frame.rekey"] = { label = "rekey", mask = 0x01 },
    ["tcpcrypt.frame.cres"] = { label = "cres (reserved)", base = base.HEX, mask = 0xfe },
    ["tcpcrypt.frame.clen"] = { label = "clen" },
    ["tcpcrypt.frame.ciphertext"] = { label = "Ciphertext" },
    ["tcpcrypt.frame.offset"] = { label = "Frame offset (nonce input)" },
    ["tcpcrypt.frame.generation"] = { label = "Key generation" },
    ["tcpcrypt.aead"] = { label = "AEAD" },
    ["tcpcrypt.session_id"] = { label = "Session ID" },
    ["tcpcrypt.plaintext"] = { label = "Plaintext" },
    ["tcpcrypt.flags"] = { label = "flags", base = base.HEX },
    ["tcpcrypt.flags.fin"] = { label = "FINp", mask = 0x01 },
    ["tcpcrypt.flags.urg"] = { label = "URGp", mask = 0x02 },
    ["tcpcrypt.flags.fres"] = { label = "fres (reserved)", base = base.HEX, mask = 0xfc },
    ["tcpcrypt.urgent"] = { label = "urgent" },
    ["tcpcrypt.data"] = { label = "Data" },
}

local F = {}
local eno_fields, crypt_fields = {}, {}
for _, row in ipairs(GEN.fields) do
    local name, kind, desc = row[1], row[2], row[3]
    if name ~= "tcpeno" and name ~= "tcpcrypt" then
        local show = SHOW[name] or {}
        local b = show.base
        if kind == "bool" then
            b = show.mask and 8 or base.NONE
        elseif b == nil then
            b = (kind:match("^uint") and base.DEC) or base.NONE
        end
        local label = show.label or desc:match("^([^:(]+)") or name
        F[name] = ProtoField.new(label, name, TYPES[kind] or ftypes.BYTES, show.vals, b, show.mask, desc)
        if name:sub(1, 7) == "tcpeno." then
            eno_fields[#eno_fields + 1] = F[name]
        else
            crypt_fields[#crypt_fields + 1] = F[name]
        end
    end
end
p_eno.fields = eno_fields
p_crypt.fields = crypt_fields

local SEVERITY = {
    chat = expert.severity.CHAT, note = expert.severity.NOTE,
    warn = expert.severity.WARN, error = expert.severity.ERROR,
}
local GROUP = {
    protocol = expert.group.PROTOCOL, malformed = expert.group.MALFORMED,
    security = expert.group.SECURITY, sequence = expert.group.SEQUENCE,
    reassemble = expert.group.REASSEMBLE, decryption = expert.group.DECRYPTION,
    deprecated = expert.group.DEPRECATED, undecoded = expert.group.UNDECODED,
    assumption = expert.group.ASSUMPTION,
}

local X = {}
local eno_experts, crypt_experts = {}, {}
for _, row in ipairs(GEN.experts) do
    local id, sev, grp, msg = row[1], row[2], row[3], row[4]
    X[id] = ProtoExpert.new(id, msg, GROUP[grp] or expert.group.PROTOCOL, SEVERITY[sev] or expert.severity.NOTE)
    if id:sub(1, 7) == "tcpeno." then
        eno_experts[#eno_experts + 1] = X[id]
    else
        crypt_experts[#crypt_experts + 1] = X[id]
    end
end
p_eno.experts = eno_experts
p_crypt.experts = crypt_experts

local MESSAGES, SEVERITY_OF = {}, {}
for _, row in ipairs(GEN.experts) do
    MESSAGES[row[1]] = row[4]
    SEVERITY_OF[row[1]] = row[2]
end

-- An expert info with the registry's message and the occurrence's details after a colon,
-- as tcpinc_tools.analysis.registry.FindingSpec.render() writes findings.
local function expert_add(item, id, text)
    local e = X[id]
    if not e or not item then
        return
    end
    local msg = MESSAGES[id]
    if text and text ~= "" then
        msg = msg .. ": " .. text
    end
    item:add_proto_expert_info(e, msg)
end

local BACKEND_CHOICES = { { 1, "auto", 1 }, { 2, "gcrypt", 2 }, { 3, "luaossl", 3 }, { 4, "none", 4 } }
local BACKEND_NAMES = { "auto", "gcrypt", "luaossl", "none" }

p_crypt.prefs.keylog_file = Pref.string("Key log file", os.getenv("TCPCRYPT_KEYLOG_FILE") or "",
    "The tcpcrypt key log (TCPCRYPT_SS_INIT1 / TCPCRYPT_SS_RESUME lines, docs/keylog.md). "
    .. "Defaults to the TCPCRYPT_KEYLOG_FILE environment variable.")
p_crypt.prefs.aead_backend = Pref.enum("AEAD implementation", 1,
    "auto: Wireshark's Gcrypt Lua API (4.6 and later), else luaossl (lua-luaossl); "
    .. "none: no decryption", BACKEND_CHOICES, false)

-- ---------------------------------------------------------------------------------------------
-- Per-capture state
-- ---------------------------------------------------------------------------------------------

local keylog = KEYLOG.new(C)
local S -- reset by init()

local function reset()
    local wanted = BACKEND_NAMES[p_crypt.prefs.aead_backend] or "auto"
    local backend, why = C.choose_backend(wanted)
    local path = p_crypt.prefs.keylog_file or ""
    keylog:load(path)
    S = {
        streams = {}, -- tcp.stream -> connection state
        pkts = {}, -- frame number -> packet snapshot (false: not ours)
        lens = {}, -- PDU key -> {pos, kind, len} (get_len results)
        pdus = {}, -- PDU key -> PDU result (what dissect showed)
        post = {}, -- frame number -> close-time findings
        offers = {}, -- resumption identifier -> where it was offered first
        -- what tcpinc_tcpcrypt needs of the capture, and the notes it gives once
        env = { keylog = keylog, keylog_path = path, backend = backend, backend_why = why, noted = {} },
    }
end
reset()

function p_conv.init()
    reset()
end

if os.getenv("TCPINC_LUA_PROBE") then
    local list = C.available_backends()
    print(string.format("tcpinc-plugin version=%s lua=%s backends=%s hmac=%s chosen=%s dir=%s",
        VERSION, _VERSION, #list > 0 and table.concat(list, ",") or "none", C.hmac_backend,
        S.env.backend or "none", DIR))
end

-- ---------------------------------------------------------------------------------------------
-- Field extractors (the TCP header of the packet being dissected)
-- ---------------------------------------------------------------------------------------------

local fx = {
    stream = Field.new("tcp.stream"),
    flags = Field.new("tcp.flags"),
    options = Field.new("tcp.options"),
    len = Field.new("tcp.len"),
    seq = Field.new("tcp.seq_raw"),
    srcport = Field.new("tcp.srcport"),
    hdr_len = Field.new("tcp.hdr_len"),
    icmp = Field.new("icmp"),
    icmpv6 = Field.new("icmpv6"),
}

local function field_value(f)
    local fi = f()
    return fi and fi.value
end

local function option_bytes()
    local fi = fx.options()
    if not fi then
        return ""
    end
    return fi.range:bytes():raw()
end

-- ---------------------------------------------------------------------------------------------
-- Connection tracking: every TCP packet, once, in the first pass
-- ---------------------------------------------------------------------------------------------

-- Decode-error ids the option dissector shows on the option itself; the tracker's copy of
-- them is not shown a second time.
local OPTION_LEVEL = {
    ["tcpeno.bad_length"] = true, ["tcpeno.truncated"] = true, ["tcpeno.not_eno_exid"] = true,
    ["tcpeno.ill_formed.length_overrun"] = true, ["tcpeno.ill_formed.length_then_non_tep"] = true,
}

local function addr_key(addr, port)
    return tostring(addr) .. "|" .. tostring(port)
end

-- One resumption identifier in the SYNs of two connections (RFC 8548 §3.5: ss[i] secures one
-- connection), as tcpinc_tools.analysis.cross does over a whole capture: replay, tracking
-- (another client address) and other_server (another server address).
local function check_offer(tracker, side, stream, pinfo, emit)
    local sub, _, dialect = tracker:resume_offer(side)
    if not sub then
        return
    end
    local half = sub.data:sub(1, ENO.RESUME_HALF)
    local key = dialect .. ":" .. sub.tep .. ":" .. half
    local offerer, peer = tostring(pinfo.src), tostring(pinfo.dst)
    local earlier = S.offers[key]
    if not earlier then
        S.offers[key] = { offerer = offerer, peer = peer, n = pinfo.number, conn = stream }
        return
    end
    if earlier.conn == stream then
        return
    end
    local hex = C.tohex(half)
    emit("tcpcrypt.resume.replay", string.format("identifier %s from %s was offered before (packet %d)",
        hex, offerer, earlier.n))
    if offerer ~= earlier.offerer then
        emit("tcpcrypt.resume.tracking", string.format("identifier %s offered by %s and by %s (packet %d)",
            hex, offerer, earlier.offerer, earlier.n))
    end
    if peer ~= earlier.peer then
        emit("tcpcrypt.resume.other_server", string.format("identifier %s offered to %s, before to %s (packet %d)",
            hex, peer, earlier.peer, earlier.n))
    end
end

local function new_stream(client)
    return { tracker = ENO.Tracker(), isn = {}, fin = {}, client = client, tracking = true }
end

-- Feed this packet to its connection's tracker, once (first pass), and return the packet's
-- snapshot: the connection's ENO state after it and the findings it raised. nil: a TCP
-- packet of no interest (no ENO in its connection, no finding).
local function track(pinfo)
    local n = pinfo.number
    local pk = S.pkts[n]
    if pk ~= nil then
        return pk or nil
    end
    local flags, sid = field_value(fx.flags), field_value(fx.stream)
    if not flags or not sid then
        if pinfo.port_type == PT_TCP then
            -- A TCP packet dissected without a protocol tree (tshark -2's first pass with no
            -- display filter): no field to read. It is tracked when it is dissected again.
            return nil
        end
        S.pkts[n] = false
        return nil
    end
    if fx.icmp() or fx.icmpv6() then
        S.pkts[n] = false
        return nil
    end
    local options = option_bytes()
    local stream = S.streams[sid]
    local syn, ack = has(flags, TCP_SYN), has(flags, TCP_ACK)
    local src = addr_key(pinfo.src, pinfo.src_port)
    local dst = addr_key(pinfo.dst, pinfo.dst_port)
    if not stream then
        local any_eno = false
        for _, o in ipairs(ENO.walk_options(options)) do
            any_eno = any_eno or ENO.is_eno(o)
        end
        if not syn and not any_eno then
            S.pkts[n] = false
            return nil
        end
        stream = new_stream((syn and ack) and dst or src)
        S.streams[sid] = stream
    end
    local side = (src == stream.client) and 1 or 2
    local feed = stream.tracking
    if syn then
        -- As the Python flow table (tcpinc_tools.capture.flows): a retransmitted SYN repeats
        -- its ISN; a pure SYN with a new ISN starts a new connection on the port pair; a
        -- SYN-ACK that contradicts a known ISN is ignored.
        local seq, known = field_value(fx.seq), stream.isn[side]
        if known and seq ~= known then
            if ack then
                feed = false
            else
                stream = new_stream(src)
                S.streams[sid] = stream
                side, feed = 1, true
            end
        end
        if feed then
            stream.isn[side] = seq
        end
    end
    local found = {}
    local function emit(id, text)
        found[#found + 1] = { id, text }
    end
    local tracker = stream.tracker
    if feed then
        tracker:on_segment(side, n, flags, options, field_value(fx.len) or 0, emit)
        tracker:space_warnings(emit)
        if syn and not ack and tracker.sides[side].syn_count == 1 then
            check_offer(tracker, side, stream, pinfo, emit)
        end
        if not tracker:active() or tracker:plain() then
            stream.tracking = false
        end
    elseif syn and not ack then
        tracker:late_syn(side, n, options, emit)
    end
    local st = tracker:state()
    if not st then
        if #found == 0 then
            S.pkts[n] = false
            return nil
        end
        pk = { n = n, stream = sid, conn = stream, side = side, flags = flags, findings = found }
        S.pkts[n] = pk
        return pk
    end
    if st.status == "fallback" and not stream.fallback_noted then
        stream.fallback_noted = true
        emit(st.reason, st.detail)
    end
    local nego = tracker:negotiated()
    if nego and not stream.negotiated_noted then
        stream.negotiated_noted = true
        if ENO.TCPCRYPT_TEPS[nego.dialect][nego.tep] then
            stream.session = TC.new_session(nego)
            -- The payload of this connection goes to tcpcrypt from now on.
            pinfo.conversation = p_crypt
        else
            emit("tcpcrypt.unsupported_tep", string.format("TEP 0x%02x (%s)", nego.tep,
                ENO.tep_name(nego.tep) or "unassigned"))
        end
    end
    local role
    if st.a_is_client ~= nil then
        role = ((side == 1) == st.a_is_client) and "A" or "B"
    end
    pk = {
        n = n, stream = sid, conn = stream, side = side, flags = flags, status = st.status, reason = st.reason,
        tep = st.tep, tep_byte = st.tep_byte, transcript = st.transcript, role = role,
        dialect = st.dialect, findings = found, resumed = st.resumed,
    }
    S.pkts[n] = pk
    return pk
end

-- ---------------------------------------------------------------------------------------------
-- The ENO option (tcp.option table, kinds 69 and 253)
-- ---------------------------------------------------------------------------------------------

local option_table = DissectorTable.get("tcp.option")
local exp_dissector = option_table:get_dissector(ENO.KIND_EXP)

-- Kind 253 with another ExID goes back to Wireshark's own dissector, except the TFO ExID
-- 0xf989 (RFC 7413 §4.1.1): that dissector reads TCP's header structure, which a Lua call
-- cannot hand over, so the option is only labelled here.
local TFO_EXID = "\249\137"

local function other_exid(tvb, pinfo, tree, raw)
    if exp_dissector and raw:sub(3, 4) ~= TFO_EXID then
        return exp_dissector:call(tvb, pinfo, tree)
    end
    local it = tree:add(tvb(), string.format("TCP Option - Experimental (kind 253, ExID 0x%s%s)",
        C.tohex(raw:sub(3, 4)), raw:sub(3, 4) == TFO_EXID and ", TCP Fast Open" or ""))
    if tvb:len() > 4 then
        it:add(tvb(4), "Data: " .. C.tohex(raw:sub(5)))
    end
    return tvb:len()
end

local function tep_text(b)
    local name = ENO.tep_name(b % 128)
    return string.format("0x%02x%s", b % 128, name and (" " .. name) or "")
end

local function dissect_option(tvb, pinfo, tree)
    local raw = tvb:raw()
    local kind = byte(raw, 1)
    if kind == ENO.KIND_EXP and raw:sub(3, 4) ~= ENO.EXID then
        return other_exid(tvb, pinfo, tree, raw)
    end
    track(pinfo)
    local flags = field_value(fx.flags) or 0
    local syn = has(flags, TCP_SYN)
    local item = tree:add(p_eno, tvb())
    item:add(F["tcpeno.kind"], tvb(0, 1))
    item:add(F["tcpeno.length"], tvb(1, 1))
    if kind == ENO.KIND_EXP and tvb:len() >= 4 then
        item:add(F["tcpeno.exid"], tvb(2, 2))
    end
    item:add(F["tcpeno.syn_form"], syn):set_generated()
    local opt, err = ENO.decode_option(raw, syn)
    local what = kind == ENO.KIND_EXP and "TCP-ENO (kind 253, legacy)" or "TCP-ENO"
    if not opt then
        item:set_text(what .. ": ill-formed")
        expert_add(item, err.id, err.msg)
        return tvb:len()
    end
    if not syn then
        item:set_text(what .. (#opt.contents > 0 and ": non-SYN form with contents" or ": non-SYN form"))
        if #opt.contents > 0 then
            item:add(F["tcpeno.contents"], tvb(opt.header, #opt.contents))
        end
        return tvb:len()
    end
    local parts = {}
    local elements = {}
    for i, g in ipairs(opt.globals) do
        elements[#elements + 1] = { off = g.offset, global = g, first = i == 1 }
    end
    for _, s in ipairs(opt.subs) do
        elements[#elements + 1] = { off = s.offset, sub = s }
    end
    table.sort(elements, function(x, y) return x.off < y.off end)
    for _, el in ipairs(elements) do
        if el.global then
            local g = el.global
            local gi = item:add(F["tcpeno.global"], tvb(g.offset, 1))
            gi:add(F["tcpeno.global.b"], tvb(g.offset, 1))
            gi:add(F["tcpeno.global.a"], tvb(g.offset, 1))
            gi:add(F["tcpeno.global.z"], tvb(g.offset, 1))
            if not el.first then
                gi:append_text(" (ignored: not the first global suboption)")
            end
            parts[#parts + 1] = string.format("global 0x%02x", g.value)
        else
            local s = el.sub
            local si = item:add(F["tcpeno.suboption"], tvb(s.offset, s.len))
            local at = s.offset
            if s.length_byte then
                si:add(F["tcpeno.suboption.length_byte"], tvb(at, 1))
                at = at + 1
            end
            si:add(F["tcpeno.tep"], tvb(at, 1))
            si:add(F["tcpeno.suboption.v"], tvb(at, 1))
            if #s.data > 0 then
                si:add(F["tcpeno.suboption.data"], tvb(at + 1, #s.data))
                if ENO.TCPCRYPT_TEPS[opt.dialect][s.tep] and #s.data >= ENO.RESUME_HALF then
                    si:add(F["tcpcrypt.resume.half"], tvb(at + 1, ENO.RESUME_HALF))
                    if #s.data > ENO.RESUME_HALF then
                        si:add(F["tcpcrypt.resume.nonce"], tvb(at + 1 + ENO.RESUME_HALF, #s.data - ENO.RESUME_HALF))
                    end
                end
            end
            si:set_text(string.format("Suboption: TEP %s, v=%d%s", tep_text(s.byte), s.v and 1 or 0,
                #s.data > 0 and string.format(", %d data bytes", #s.data) or ""))
            parts[#parts + 1] = string.format("%s0x%02x", s.v and "v=1 " or "", s.tep)
        end
    end
    if #opt.subs == 0 then
        parts[#parts + 1] = "vacuous (no TEP)"
    end
    item:set_text(what .. " (SYN form): " .. table.concat(parts, ", "))
    -- the SYN's option-space account (the same for every ENO option of the segment)
    local report = ENO.syn_report(option_bytes())
    item:add(F["tcpeno.option_space.used"], report.used):set_generated()
    item:add(F["tcpeno.option_space.left"], math.max(report.left, 0)):set_generated()
    return tvb:len()
end

function p_eno.dissector(tvb, pinfo, tree)
    return dissect_option(tvb, pinfo, tree)
end

option_table:add(ENO.KIND_ENO, p_eno)
option_table:add(ENO.KIND_EXP, p_eno)

-- ---------------------------------------------------------------------------------------------
-- tcpcrypt: delimiting the stream (dissect_tcp_pdus) and showing each PDU
-- ---------------------------------------------------------------------------------------------

local CUR -- the packet being dissected: {pk, stream, sess, dir, data_start, tcp_len, relseq}

-- Hand application bytes to Wireshark: heuristic dissectors first, then the port table
-- (lower port first, as TCP does), else raw data.
local data_dissector = Dissector.get("data")
local port_table = DissectorTable.get("tcp.port")

local function subdissect(tvb, pinfo, tree, keep_desegment)
    if tvb:len() == 0 then
        return
    end
    local saved = pinfo.can_desegment
    local sport, dport = pinfo.src_port, pinfo.dst_port
    local lo, hi = math.min(sport, dport), math.max(sport, dport)
    if not keep_desegment then
        -- A decrypted frame is a whole record: no TCP desegmentation below it. And a
        -- heuristic dissector that recognises the plaintext (HTTP's does) makes itself the
        -- dissector of the TCP conversation it finds; with the ports swapped it finds one of
        -- its own (as unique as the connection), and this one stays tcpcrypt's.
        pinfo.can_desegment = 0
        pinfo.src_port, pinfo.dst_port = dport, sport
    end
    local done = DissectorTable.try_heuristics("tcp", tvb, pinfo, tree)
    if not done then
        for _, port in ipairs({ lo, hi }) do
            local d = port_table:get_dissector(port)
            if d and not done then
                local ok, used = pcall(d.call, d, tvb, pinfo, tree)
                done = ok and (used or 0) > 0
            end
        end
    end
    if not done then
        data_dissector:call(tvb, pinfo, tree)
    end
    pinfo.can_desegment = saved
    pinfo.src_port, pinfo.dst_port = sport, dport
end

local function pdu_key(tvb, offset, subset)
    return string.format("%d%s%d", CUR.n, subset and "s" or "r", tvb:offset() + offset)
end

-- The stream offset (from ISN+1) of byte ``offset`` of ``tvb``, and whether ``tvb`` lies in
-- this segment's payload (false: a reassembled PDU, which starts where the next PDU does).
local function stream_pos(tvb, offset)
    local raw = tvb:offset() + offset
    if CUR.data_start and raw >= CUR.data_start and raw < CUR.data_start + CUR.tcp_len then
        return CUR.relseq + (raw - CUR.data_start), true
    end
    return CUR.dir.next_pos, false
end

local function get_len(tvb, pinfo, offset)
    local pos, subset = stream_pos(tvb, offset)
    local key = pdu_key(tvb, offset, subset)
    local m = S.lens[key]
    if not m then
        local kind, len = TC.classify(CUR.dir, pos, tvb:raw(offset, math.min(8, tvb:len() - offset)),
            tvb:len() - offset)
        m = { pos = pos, kind = kind, len = len, gap = pos > CUR.dir.next_pos and (pos - CUR.dir.next_pos) or nil }
        S.lens[key] = m
    end
    return m.len
end

local function frame_summary(res)
    local t = { res.kind == "frame" and "Frame" or res.kind }
    if res.rekey then
        t[#t + 1] = "rekey"
    end
    if res.fin then
        t[#t + 1] = "FINp"
    end
    return table.concat(t, ", ")
end

-- First pass: the PDU's meaning (tcpinc_tcpcrypt); a tcpcrypt error it reports makes the
-- connection's later RST expected (the abort that error calls for).
local function process(m, bytes)
    local res = TC.process({ sess = CUR.sess, dir = CUR.dir, n = CUR.n, flags = CUR.flags, env = S.env }, m, bytes)
    for _, e in ipairs(res.experts) do
        if SEVERITY_OF[e[1]] == "error" and e[1]:sub(1, 9) == "tcpcrypt." then
            CUR.stream.tcpcrypt_error = true
        end
    end
    return res
end

local function show_experts(item, list)
    for _, e in ipairs(list or {}) do
        expert_add(item, e[1], e[2])
    end
end

local function render(res, tvb, pinfo, tree)
    local item = tree:add(p_crypt, tvb())
    local dirname = res.is_A and "A→B" or "B→A"
    if res.session_id then
        item:add(F["tcpcrypt.session_id"], ByteArray.new(res.session_id, true):tvb("tcpcrypt session ID")()):set_generated()
    end
    if res.kind == "init" then
        local fname = res.is_init1 and "tcpcrypt.init1" or "tcpcrypt.init2"
        local it = item:add(F[fname], tvb())
        for _, f in ipairs(res.init.fields) do
            if f[4] ~= nil then
                it:add(F[f[1]], tvb(f[2], f[3]), f[4])
            else
                it:add(F[f[1]], tvb(f[2], f[3]))
            end
        end
        local label = res.is_init1 and "Init1" or "Init2"
        item:set_text(string.format("tcpcrypt %s, %s (%d bytes)", label, dirname, res.len))
        pinfo.cols.info:append(" " .. label)
    elseif res.kind == "frame" then
        local ft = item:add(F["tcpcrypt.frame"], tvb())
        ft:add(F["tcpcrypt.frame.control"], tvb(0, 1))
        ft:add(F["tcpcrypt.frame.rekey"], tvb(0, 1))
        ft:add(F["tcpcrypt.frame.cres"], tvb(0, 1))
        ft:add(F["tcpcrypt.frame.clen"], tvb(1, 2))
        ft:add(F["tcpcrypt.frame.ciphertext"], tvb(3))
        ft:add(F["tcpcrypt.frame.offset"], UInt64.new(res.nonce_offset or res.pos)):set_generated()
        ft:add(F["tcpcrypt.frame.generation"], res.generation or 0):set_generated()
        if res.aead then
            item:add(F["tcpcrypt.aead"], res.aead):set_generated()
        end
        local state = res.pt and "decrypted" or (res.decrypt_failed and "does not authenticate" or "encrypted")
        item:set_text(string.format("tcpcrypt %s, %s, %d bytes, %s", frame_summary(res), dirname, res.len, state))
        pinfo.cols.info:append(" [" .. frame_summary(res) .. "]")
        if res.pt then
            local ptvb = ByteArray.new(res.pt, true):tvb("Decrypted tcpcrypt frame")
            local pi = ft:add(F["tcpcrypt.plaintext"], ptvb())
            if res.flags then
                pi:add(F["tcpcrypt.flags"], ptvb(0, 1))
                pi:add(F["tcpcrypt.flags.fin"], ptvb(0, 1))
                pi:add(F["tcpcrypt.flags.urg"], ptvb(0, 1))
                pi:add(F["tcpcrypt.flags.fres"], ptvb(0, 1))
            end
            if res.urgent then
                pi:add(F["tcpcrypt.urgent"], ptvb(1, 2))
            end
            if res.data_off and res.data_off < #res.pt then
                local d = ptvb(res.data_off)
                pi:add(F["tcpcrypt.data"], d)
                subdissect(d:tvb(), pinfo, tree, false)
            end
        end
    elseif res.kind == "plaintext" then
        item:set_text(string.format("tcpcrypt %s: cleartext where frames belong (%d bytes)", dirname, res.len))
        subdissect(tvb, pinfo, tree, false)
    elseif res.kind == "dup" then
        item:set_text(string.format("tcpcrypt %s: %d bytes already seen (retransmission)", dirname, res.len))
    else
        item:set_text(string.format("tcpcrypt %s: %d bytes that are not tcpcrypt messages (%s)", dirname, res.len, res.kind))
    end
    show_experts(item, res.experts)
end

local function dissect_pdu(tvb, pinfo, tree)
    local _, subset = stream_pos(tvb, 0)
    local key = pdu_key(tvb, 0, subset)
    local res = S.pdus[key]
    if not res then
        local m = S.lens[key] or { pos = stream_pos(tvb, 0), kind = "opaque", len = tvb:len() }
        res = process(m, tvb:raw())
        S.pdus[key] = res
    end
    render(res, tvb, pinfo, tree)
    return tvb:len()
end

local function delegate(tvb, pinfo, tree)
    subdissect(tvb, pinfo, tree, true)
    return tvb:len()
end

function p_crypt.dissector(tvb, pinfo, tree)
    local pk = track(pinfo)
    local stream = pk and pk.conn
    if not stream or not stream.session or not pk.status or pk.status == "fallback" then
        return delegate(tvb, pinfo, tree)
    end
    local sess = stream.session
    local srcport = fx.srcport()
    local seq = field_value(fx.seq)
    local isn = stream.isn[pk.side]
    CUR = {
        n = pinfo.number, pk = pk, stream = stream, sess = sess, dir = sess.dirs[pk.side],
        flags = pk.flags, tcp_len = field_value(fx.len) or 0,
    }
    if srcport and seq and isn then
        CUR.data_start = srcport.offset + (field_value(fx.hdr_len) or 20)
        CUR.relseq = (seq - isn - 1) % 4294967296
    end
    pinfo.cols.protocol = "tcpcrypt"
    dissect_tcp_pdus(tvb, tree, 8, get_len, dissect_pdu)
    return tvb:len()
end

-- ---------------------------------------------------------------------------------------------
-- The postdissector: the connection's ENO state on each of its packets, close checks
-- ---------------------------------------------------------------------------------------------

local function close_checks(pk)
    local stream = pk.conn
    local sess = stream.session
    local out = {}
    if not pk.status then
        return out
    end
    if has(pk.flags, TCP_FIN) and not stream.fin[pk.side] then
        stream.fin[pk.side] = pk.n
        local dir = sess and sess.dirs[pk.side]
        if dir and dir.chosen and not dir.fin_frame and not stream.rst then
            -- RFC 8548 §3.7: EOF only on an authenticated FINp frame.
            out[#out + 1] = { "tcpcrypt.truncation", string.format(
                "%s TCP FIN with no FINp frame before it", dir.is_A and "A→B" or "B→A") }
            stream.tcpcrypt_error = true
        end
    end
    if has(pk.flags, TCP_RST) and not stream.rst then
        stream.rst = pk.n
        -- RFC 8548 §8: the TCP header is not protected. A reset that follows a tcpcrypt
        -- error is the abort that error calls for.
        if pk.status == "encrypted" and sess and not (stream.fin[1] and stream.fin[2])
            and not stream.tcpcrypt_error then
            out[#out + 1] = { "tcpcrypt.unauthenticated_reset",
                "the connection was reset before a FIN in each direction; an off-path attacker can do this" }
        end
    end
    return out
end

function p_conv.dissector(tvb, pinfo, tree)
    local pk = track(pinfo)
    if not pk then
        return
    end
    local post = S.post[pk.n]
    if post == nil then
        post = close_checks(pk)
        S.post[pk.n] = post
    end
    local item = tree:add(p_eno, tvb(0, 0))
    item:set_generated()
    if not pk.status then
        item:set_text("TCP-ENO: no ENO option in this connection's SYNs")
    else
        local text = "TCP-ENO connection: " .. pk.status
        if pk.tep then
            text = text .. ", TEP " .. tep_text(pk.tep)
        end
        if pk.reason then
            text = text .. " (" .. pk.reason .. ")"
        end
        item:set_text(text)
        item:add(F["tcpeno.status"], pk.status):set_generated()
        if pk.reason then
            item:add(F["tcpeno.reason"], pk.reason):set_generated()
        end
        if pk.role then
            item:add(F["tcpeno.role"], pk.role):set_generated()
        end
        if pk.tep then
            item:add(F["tcpeno.negotiated_tep"], pk.tep):set_generated()
            item:add(F["tcpeno.negotiated_tep_byte"], pk.tep_byte):set_generated()
        end
        if pk.transcript then
            item:add(F["tcpeno.transcript"], ByteArray.new(pk.transcript, true):tvb("TCP-ENO transcript")()):set_generated()
        end
    end
    for _, f in ipairs(pk.findings) do
        if not OPTION_LEVEL[f[1]] then
            expert_add(item, f[1], f[2])
        end
    end
    if #post > 0 then
        local ci = tree:add(p_crypt, tvb(0, 0))
        ci:set_text("tcpcrypt connection")
        ci:set_generated()
        show_experts(ci, post)
    end
end

register_postdissector(p_conv)
