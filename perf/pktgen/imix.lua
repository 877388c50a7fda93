-- pktgen-dpdk Lua: the simple IMIX (7 x 64, 4 x 570, 1 x 1518) on port 0 through the
-- appliance, as the perf crate's `--size imix`. UNTESTED here. Load with: pktgen ... -f imix.lua
package.path = package.path .. ";?.lua;test/?.lua;app/?.lua;"
require "Pktgen"
local app_ext_mac = "APP_EXT_MAC"
pktgen.stop("all")
pktgen.set_proto("0", "tcp")
pktgen.set_ipaddr("0", "src", "198.18.16.1/20")
pktgen.set_ipaddr("0", "dst", "198.18.0.100")
pktgen.set_mac("0", "dst", app_ext_mac)
pktgen.set("0", "sport", 1024)
pktgen.set("0", "dport", 80)
-- pktgen's sequence packets (0..11) carry the IMIX pattern, each a distinct client address.
local sizes = {64, 570, 64, 64, 570, 64, 1518, 64, 570, 64, 64, 570}
for i, sz in ipairs(sizes) do
  local src = string.format("198.18.16.%d/20", i)
  pktgen.seqTable(i - 1, "0", {
    eth_dst_addr = app_ext_mac, ip_src_addr = src, ip_dst_addr = "198.18.0.100",
    sport = 1024, dport = 80, ethType = "ipv4", ipProto = "tcp", pktSize = sz,
  })
end
pktgen.set("0", "seq_cnt", #sizes)
pktgen.start("0")
