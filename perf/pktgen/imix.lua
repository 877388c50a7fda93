-- pktgen-dpdk Lua script: the simple IMIX (7 x 64, 4 x 570, 1 x 1518 B, as scripts/perf's
-- `--size imix`) through the appliance on 12 flows (docs/perf.md). Load with `-f imix.lua`.
--
-- Port 0 faces the appliance's ext port, port 1 its int port. The MACs are those
-- perf/pktgen/run gives the memif ports; on real NICs set app_ext_mac to the appliance's ext MAC
-- and gen_mac to port 0's own MAC.
--
-- Sequence packets carry pktgen's default TCP flags (ACK) and 23.03 has no way to change them,
-- so the 12 flows are first opened by a range-mode SYN phase (ACK cleared, each SYN twice and
-- slowly: pktgen drops what a full port refuses) on the same clients,
-- written to a temporary command file and loaded. Both phases are bounded by `count`.
local app_ext_mac = "02:00:00:00:00:01"
local gen_mac = "02:00:00:00:01:01"
local vip = "198.18.0.100"
-- Client i (1..12) is 198.18.17.i, port 1024: apart from nat.pkt's and syn.pkt's flows.
local sizes = {64, 570, 64, 64, 570, 64, 1518, 64, 570, 64, 64, 570}

pktgen.stop("all")
pktgen.clr()

-- Phase 1: one SYN per client.
local syn = {
  "range 0 dst mac start " .. app_ext_mac,
  "range 0 src mac start " .. gen_mac,
  "range 0 src ip start 198.18.17.1",
  "range 0 src ip min 198.18.17.1",
  "range 0 src ip max 198.18.17." .. #sizes,
  "range 0 src ip inc 0.0.0.1",
  "range 0 src port start 1024",
  "range 0 src port min 1024",
  "range 0 src port max 1024",
  "range 0 src port inc 0",
  "range 0 dst ip start " .. vip,
  "range 0 dst ip min " .. vip,
  "range 0 dst ip max " .. vip,
  "range 0 dst ip inc 0.0.0.0",
  "range 0 dst port start 80",
  "range 0 dst port min 80",
  "range 0 dst port max 80",
  "range 0 dst port inc 0",
  "range 0 proto tcp",
  "range 0 size start 64",
  "range 0 size min 64",
  "range 0 size max 64",
  "range 0 size inc 0",
  "range 0 tcp flag clr all",
  "range 0 tcp flag set syn",
  "enable 0 range",
  "set 0 rate 0.1",
  "set 0 count " .. 2 * #sizes,
  "start 0",
  "delay 1000",
  "stop 0",
  "disable 0 range",
}
local path = os.tmpname() .. ".pkt"
local f = assert(io.open(path, "w"))
f:write(table.concat(syn, "\n") .. "\n")
f:close()
pktgen.load(path)
os.remove(path)

-- Phase 2: the IMIX, one size per sequence packet, each of the 12 clients in turn (ACK).
for i, sz in ipairs(sizes) do
  pktgen.seqTable(i - 1, "0", {
    eth_dst_addr = app_ext_mac, eth_src_addr = gen_mac,
    ip_src_addr = string.format("198.18.17.%d/20", i), ip_dst_addr = vip,
    sport = 1024, dport = 80, ethType = "ipv4", ipProto = "tcp", vlanid = 1,
    pktSize = sz, cos = 0, tos = 0, gtpu_teid = 0,
  })
end
pktgen.set("0", "seq_cnt", #sizes)
pktgen.set("0", "rate", 100)
pktgen.set("0", "count", 12000000)
pktgen.start("0")
