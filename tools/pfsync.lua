-- Wireshark/tshark dissector for OpenBSD pfsync version 6 (IP protocol 240),
-- written for hapf from shared/spec/pfsync.md. Wireshark has no pfsync
-- dissector of its own.
--
--   tshark -X lua_script:tools/pfsync.lua -r capture.pcap -V
--   wireshark: copy to ~/.local/lib/wireshark/plugins/
--
-- Also shows hapf's syncauth trailer (a hapf extension, not OpenBSD).

local pfsync = Proto("pfsync", "OpenBSD pfsync v6")

local action_names = {
  [0] = "CLR ST", [1] = "INS ST OLD", [2] = "INS ST ACK", [3] = "UPD ST OLD", [4] = "UPD ST COMP",
  [5] = "UPD ST REQ", [6] = "DEL ST", [7] = "DEL ST COMP", [8] = "INS FR", [9] = "DEL FR",
  [10] = "BULK UPD STAT", [11] = "UPD TDB OLD", [12] = "EOF", [13] = "INS ST", [14] = "UPD ST", [15] = "UPD TDB",
}
local af_names = { [0] = "unspecified", [2] = "AF_INET", [24] = "AF_INET6 (OpenBSD)" }
local dir_names = { [0] = "none", [1] = "in", [2] = "out" }
local bus_names = { [1] = "start", [2] = "end" }
local tcp_states = {
  [0] = "CLOSED", [1] = "LISTEN", [2] = "SYN_SENT", [3] = "SYN_RCVD", [4] = "ESTABLISHED", [5] = "CLOSE_WAIT",
  [6] = "FIN_WAIT_1", [7] = "CLOSING", [8] = "LAST_ACK", [9] = "FIN_WAIT_2", [10] = "TIME_WAIT",
  [11] = "PROXY_SRC", [12] = "PROXY_DST",
}

local f = {
  version = ProtoField.uint8("pfsync.version", "Version"),
  len = ProtoField.uint16("pfsync.len", "Length"),
  cksum = ProtoField.bytes("pfsync.pfcksum", "Ruleset checksum"),
  action = ProtoField.uint8("pfsync.action", "Action", base.DEC, action_names),
  itemlen = ProtoField.uint8("pfsync.itemlen", "Item length (words)"),
  count = ProtoField.uint16("pfsync.count", "Count"),
  id = ProtoField.uint64("pfsync.id", "State id", base.HEX),
  creatorid = ProtoField.uint32("pfsync.creatorid", "Creator id", base.HEX),
  ifname = ProtoField.string("pfsync.ifname", "Interface"),
  af = ProtoField.uint8("pfsync.af", "Address family", base.DEC, af_names),
  proto = ProtoField.uint8("pfsync.proto", "Protocol"),
  direction = ProtoField.uint8("pfsync.direction", "Direction", base.DEC, dir_names),
  addr4 = ProtoField.ipv4("pfsync.addr", "Address"),
  addr6 = ProtoField.ipv6("pfsync.addr6", "Address"),
  port = ProtoField.uint16("pfsync.port", "Port"),
  rdomain = ProtoField.uint16("pfsync.rdomain", "Routing domain"),
  peer_state = ProtoField.uint8("pfsync.peer.state", "Peer state", base.DEC, tcp_states),
  seqlo = ProtoField.uint32("pfsync.peer.seqlo", "seqlo"),
  seqhi = ProtoField.uint32("pfsync.peer.seqhi", "seqhi"),
  seqdiff = ProtoField.uint32("pfsync.peer.seqdiff", "seqdiff"),
  max_win = ProtoField.uint16("pfsync.peer.max_win", "max_win"),
  mss = ProtoField.uint16("pfsync.peer.mss", "mss"),
  wscale = ProtoField.uint8("pfsync.peer.wscale", "wscale", base.HEX),
  rule = ProtoField.uint32("pfsync.rule", "Rule"),
  creation = ProtoField.uint32("pfsync.creation", "Age (s)"),
  expire = ProtoField.uint32("pfsync.expire", "Expires in (s)"),
  packets = ProtoField.uint64("pfsync.packets", "Packets"),
  bytes = ProtoField.uint64("pfsync.bytes", "Bytes"),
  timeout = ProtoField.uint8("pfsync.timeout", "Timeout index"),
  state_flags = ProtoField.uint16("pfsync.state_flags", "State flags", base.HEX),
  bus_status = ProtoField.uint8("pfsync.bus.status", "Bulk status", base.DEC, bus_names),
  endtime = ProtoField.uint32("pfsync.bus.endtime", "End time"),
  spi = ProtoField.uint32("pfsync.tdb.spi", "SPI", base.HEX),
  rpl = ProtoField.uint64("pfsync.tdb.rpl", "Replay counter"),
  auth_counter = ProtoField.uint64("pfsync.syncauth.counter", "hapf syncauth counter", base.HEX),
  auth_mac = ProtoField.bytes("pfsync.syncauth.mac", "hapf syncauth MAC"),
}
pfsync.fields = f

local function peer(tree, buf, label)
  local t = tree:add(pfsync, buf, label)
  t:add(f.seqlo, buf(8, 4))
  t:add(f.seqhi, buf(12, 4))
  t:add(f.seqdiff, buf(16, 4))
  t:add(f.max_win, buf(20, 2))
  t:add(f.mss, buf(22, 2))
  t:add(f.peer_state, buf(24, 1))
  t:add(f.wscale, buf(25, 1))
end

local function key(tree, buf, label, af)
  local t = tree:add(pfsync, buf, label)
  local kaf = buf(38, 1):uint()
  if kaf ~= 0 then af = kaf end
  for i = 0, 1 do
    if af == 2 then t:add(f.addr4, buf(16 * i, 4)) else t:add(f.addr6, buf(16 * i, 16)) end
  end
  t:add(f.port, buf(32, 2))
  t:add(f.port, buf(34, 2))
  t:add(f.rdomain, buf(36, 2))
  t:add(f.af, buf(38, 1))
end

local function state(tree, buf)
  local t = tree:add(pfsync, buf, "State " .. buf(0, 8):uint64():tohex() .. "/" ..
    string.format("%08x", buf(236, 4):uint()))
  local af = buf(250, 1):uint()
  t:add(f.id, buf(0, 8))
  t:add(f.creatorid, buf(236, 4))
  t:add(f.ifname, buf(8, 16))
  key(t, buf(24, 40), "Wire key", af)
  key(t, buf(64, 40), "Stack key", af)
  peer(t, buf(104, 32), "Source peer")
  peer(t, buf(136, 32), "Destination peer")
  t:add(f.rule, buf(184, 4))
  t:add(f.creation, buf(196, 4))
  t:add(f.expire, buf(200, 4))
  t:add(f.packets, buf(204, 8))
  t:add(f.packets, buf(212, 8))
  t:add(f.bytes, buf(220, 8))
  t:add(f.bytes, buf(228, 8))
  t:add(f.af, buf(250, 1))
  t:add(f.proto, buf(251, 1))
  t:add(f.direction, buf(252, 1))
  t:add(f.timeout, buf(255, 1))
  t:add(f.state_flags, buf(260, 2))
end

local item_sizes = { [0] = 20, [2] = 12, [4] = 84, [5] = 12, [6] = 264, [7] = 12, [10] = 12, [13] = 264,
  [14] = 264, [15] = 52 }

function pfsync.dissector(buf, pinfo, tree)
  if buf:len() < 20 then return 0 end
  pinfo.cols.protocol = "PFSYNC"
  local hlen = buf(2, 2):uint()
  local root = tree:add(pfsync, buf(0, math.min(hlen, buf:len())), "OpenBSD pfsync")
  root:add(f.version, buf(0, 1))
  root:add(f.len, buf(2, 2))
  root:add(f.cksum, buf(4, 16))
  if buf(0, 1):uint() ~= 6 or hlen > buf:len() or hlen < 20 then
    pinfo.cols.info = "pfsync (malformed header)"
    return buf:len()
  end
  local off, info = 20, {}
  while hlen - off >= 4 do
    local action, words, count = buf(off, 1):uint(), buf(off + 1, 1):uint(), buf(off + 2, 2):uint()
    local stride = words * 4
    local size = stride * count
    local r = root:add(pfsync, buf(off, math.min(4 + size, hlen - off)),
      string.format("%s count %d", action_names[action] or "UNKNOWN", count))
    r:add(f.action, buf(off, 1))
    r:add(f.itemlen, buf(off + 1, 1))
    r:add(f.count, buf(off + 2, 2))
    info[#info + 1] = string.format("%s x%d", action_names[action] or "?", count)
    off = off + 4
    if size > hlen - off then
      r:add_expert_info(PI_MALFORMED, PI_ERROR, "region runs past the header length")
      break
    end
    local need = item_sizes[action]
    if need and stride >= need then
      for i = 0, count - 1 do
        local item = buf(off + i * stride, stride)
        if need == 264 then
          state(r, item)
        elseif action == 4 then
          local t = r:add(pfsync, item, "Compressed update")
          t:add(f.id, item(0, 8))
          t:add(f.creatorid, item(72, 4))
          peer(t, item(8, 32), "Source peer")
          peer(t, item(40, 32), "Destination peer")
          t:add(f.timeout, item(80, 1))
        elseif action == 0 then
          r:add(f.ifname, item(0, 16))
          r:add(f.creatorid, item(16, 4))
        elseif action == 10 then
          r:add(f.creatorid, item(0, 4))
          r:add(f.endtime, item(4, 4))
          r:add(f.bus_status, item(8, 1))
        elseif action == 15 then
          r:add(f.spi, item(0, 4))
          r:add(f.rpl, item(32, 8))
        else
          r:add(f.id, item(0, 8))
          r:add(f.creatorid, item(8, 4))
        end
      end
    end
    off = off + size
  end
  if buf:len() - hlen == 32 and buf(hlen, 4):string() == "hSA1" then
    local t = tree:add(pfsync, buf(hlen, 32), "hapf syncauth trailer")
    t:add(f.creatorid, buf(hlen + 4, 4))
    t:add(f.auth_counter, buf(hlen + 8, 8))
    t:add(f.auth_mac, buf(hlen + 16, 16))
  end
  pinfo.cols.info = string.format("PFSYNCv6 len %d: %s", hlen, table.concat(info, ", "))
  return buf:len()
end

DissectorTable.get("ip.proto"):add(240, pfsync)
