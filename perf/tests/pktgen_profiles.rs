//! The pktgen-dpdk profiles in perf/pktgen, checked without pktgen-dpdk (it is not a Debian
//! package, so CI cannot run it; perf/pktgen/run does, docs/perf.md): every command line parses
//! as pktgen 23.03 spells it, every address is one we may use, and a model of pktgen's range mode
//! (every field steps in lockstep, one packet per mbuf of a FIFO pool of 24 576) shows that each
//! profile opens its flows with SYNs before it sends ACKs on them, never runs its destination off
//! the VIP, and stops by itself.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// Mbufs in pktgen 23.03's range pool per port and queue (MAX_MBUFS_PER_PORT): range mode sends
/// at most this many distinct packets per `start`.
const RANGE_POOL: u64 = 24_576;
const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pktgen")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// 198.18.0.0/15 and the three TEST-NETs: the only IPv4 unicast the project uses.
fn allowed(a: Ipv4Addr) -> bool {
    let o = a.octets();
    (o[0] == 198 && (o[1] & 0xfe) == 18)
        || (o[0], o[1], o[2]) == (192, 0, 2)
        || (o[0], o[1], o[2]) == (198, 51, 100)
        || (o[0], o[1], o[2]) == (203, 0, 113)
}

/// One range field as pktgen keeps it: the value of the last packet built, and start/min/max/inc.
#[derive(Clone, Copy, Debug, Default)]
struct Field {
    value: u64,
    start: u64,
    min: u64,
    max: u64,
    inc: u64,
}

impl Field {
    fn set(&mut self, which: &str, v: u64) {
        match which {
            "start" => {
                self.start = v;
                self.value = v;
            }
            "min" => self.min = v,
            "max" => self.max = v,
            "inc" => self.inc = v,
            _ => panic!("range field part `{which}`"),
        }
    }
    /// pktgen_range_ctor: add the increment, wrap below min to max and above max to min.
    fn step(&mut self) -> u64 {
        if self.inc != 0 {
            let v = self.value + self.inc;
            self.value = if v < self.min {
                self.max
            } else if v > self.max {
                self.min
            } else {
                v
            };
        } else {
            self.value = self.start;
        }
        self.value
    }
    fn pinned(&self) -> bool {
        self.inc == 0 && self.min == self.start && self.max == self.start
    }
}

/// What one `start 0` sends.
#[derive(Debug)]
struct Phase {
    /// TCP flags of the range packet (pktgen's bit values: FIN 1, SYN 2, RST 4, PSH 8, ACK 16, URG 32).
    flags: u8,
    count: u64,
    /// Distinct (client address, client port) pairs among the packets sent.
    flows: HashSet<(Ipv4Addr, u16)>,
}

const SYN: u8 = 2;
const ACK: u8 = 16;

fn flag(name: &str) -> u8 {
    match name {
        "fin" => 1,
        "syn" => SYN,
        "rst" => 4,
        "psh" => 8,
        "ack" => ACK,
        "urg" => 32,
        "all" => 63,
        _ => panic!("tcp flag `{name}`"),
    }
}

fn ip(s: &str) -> u64 {
    u64::from(u32::from(
        s.parse::<Ipv4Addr>()
            .unwrap_or_else(|_| panic!("`{s}` is not an IPv4 address")),
    ))
}

fn mac(s: &str) -> [u8; 6] {
    perf::flow_pcaps::parse_mac(s).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs the command lines of a .pkt file through a model of pktgen 23.03 (port 0, range mode),
/// panicking with the line on anything pktgen would not take. Returns the phases it starts.
fn run_pkt(name: &str, text: &str) -> Vec<Phase> {
    let [mut src_ip, mut dst_ip, mut sport, mut dport] = [Field::default(); 4];
    let (mut src_mac, mut dst_mac) = (None, None);
    // pktgen's range packet starts as its single packet: TCP with ACK.
    let mut flags = ACK;
    let (mut count, mut range, mut sending) = (0u64, false, false);
    let mut phases = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = format!("{name}:{}: `{line}`", n + 1);
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["stop", "all" | "0"] => sending = false,
            ["clr"] => {}
            ["delay", ms] => assert!(ms.parse::<u32>().is_ok(), "{at}"),
            ["enable", "0", "range"] => range = true,
            ["disable", "0", "range"] => range = false,
            ["enable" | "disable", "0", "pcap"] => {}
            ["set", "0", "rate", r] => {
                let r: f64 = r.parse().unwrap_or_else(|_| panic!("{at}"));
                assert!(r > 0.0 && r <= 100.0, "{at}: a percentage of the link");
            }
            ["set", "0", "count", c] => count = c.parse().unwrap_or_else(|_| panic!("{at}")),
            ["range", "0", "dst", "mac", "start", m] => dst_mac = Some(mac(m)),
            ["range", "0", "src", "mac", "start", m] => src_mac = Some(mac(m)),
            ["range", "0", which @ ("src" | "dst"), "ip", part, a] => {
                let f = if *which == "src" {
                    &mut src_ip
                } else {
                    &mut dst_ip
                };
                if *part != "inc" {
                    assert!(
                        allowed(a.parse().unwrap()),
                        "{at}: not an address from 198.18.0.0/15 or a TEST-NET"
                    );
                }
                f.set(part, ip(a));
            }
            ["range", "0", which @ ("src" | "dst"), "port", part, p] => {
                let f: &mut Field = if *which == "src" {
                    &mut sport
                } else {
                    &mut dport
                };
                f.set(
                    part,
                    u64::from(p.parse::<u16>().unwrap_or_else(|_| panic!("{at}"))),
                );
            }
            ["range", "0", "proto", "tcp"] => {}
            ["range", "0", "size", "start" | "min" | "max", s] => assert_eq!(*s, "64", "{at}"),
            ["range", "0", "size", "inc", s] => assert_eq!(*s, "0", "{at}"),
            ["range", "0", "tcp", "flag", "set", f] => flags |= flag(f),
            ["range", "0", "tcp", "flag", "clr", f] => flags &= !flag(f),
            ["start", "0"] => {
                assert!(!sending, "{at}: already sending");
                assert!(count > 0, "{at}: unbounded (no `set 0 count N` before it)");
                let mut flows = HashSet::new();
                if range {
                    assert_eq!(
                        dst_mac,
                        Some([2, 0, 0, 0, 0, 1]),
                        "{at}: the appliance's ext MAC"
                    );
                    assert_eq!(
                        src_mac,
                        Some([2, 0, 0, 0, 1, 1]),
                        "{at}: pktgen port 0's MAC"
                    );
                    assert!(
                        dst_ip.pinned() && dport.pinned(),
                        "{at}: the destination must stay on the VIP"
                    );
                    // One packet per mbuf, built in pool order at `start`; sent in the same order.
                    for _ in 0..count.min(RANGE_POOL) {
                        let (s, d) = (src_ip.step(), dst_ip.step());
                        let (sp, dp) = (sport.step(), dport.step());
                        assert_eq!((Ipv4Addr::from(d as u32), dp), (VIP, 80), "{at}");
                        let s = Ipv4Addr::from(s as u32);
                        assert!(allowed(s), "{at}: source {s}");
                        flows.insert((s, sp as u16));
                    }
                }
                phases.push(Phase {
                    flags,
                    count,
                    flows,
                });
                sending = true;
            }
            _ => panic!("{at}: not a pktgen 23.03 command these profiles use"),
        }
    }
    phases
}

/// nat.pkt, dr.pkt, tun.pkt: a SYN phase opening 4096 flows, then ACKs on exactly those.
#[test]
fn established_profiles_open_their_flows_first() {
    for name in ["nat.pkt", "dr.pkt", "tun.pkt"] {
        let phases = run_pkt(name, &read(name));
        assert_eq!(phases.len(), 2, "{name}: a SYN phase and an ACK phase");
        let (syn, ack) = (&phases[0], &phases[1]);
        assert_eq!(syn.flags, SYN, "{name}: SYN alone in the first phase");
        assert_eq!(
            (syn.count, syn.flows.len()),
            (8192, 4096),
            "{name}: one SYN per flow"
        );
        assert_eq!(ack.flags, ACK, "{name}: ACK alone in the second phase");
        assert_eq!(ack.count, 30_000_000, "{name}");
        assert_eq!(
            ack.flows, syn.flows,
            "{name}: ACKs only on the flows the SYNs opened"
        );
        let ports: HashSet<u16> = syn.flows.iter().map(|f| f.1).collect();
        assert_eq!(ports, HashSet::from([1024]), "{name}");
    }
}

/// syn.pkt: every packet a SYN of a flow not seen before, as many as range mode can make.
#[test]
fn syn_profile_sends_only_new_flows_and_stops() {
    let phases = run_pkt("syn.pkt", &read("syn.pkt"));
    assert_eq!(phases.len(), 1);
    assert_eq!(phases[0].flags, SYN);
    assert_eq!(phases[0].count, RANGE_POOL);
    assert_eq!(
        phases[0].flows.len() as u64,
        RANGE_POOL,
        "every SYN opens a distinct flow"
    );
    // None of them is one of nat.pkt's, so they are new even after it ran.
    let nat = run_pkt("nat.pkt", &read("nat.pkt"));
    assert!(phases[0].flows.is_disjoint(&nat[0].flows));
}

/// The pcap profiles: pcap mode, range off, bounded; the SYN one sends each of 1 M SYNs twice.
#[test]
fn pcap_profiles_are_bounded() {
    let syn = run_pkt("syn-1m.pkt", &read("syn-1m.pkt"));
    assert_eq!(syn.iter().map(|p| p.count).collect::<Vec<_>>(), [2 << 20]);
    let ack = run_pkt("ack-1m.pkt", &read("ack-1m.pkt"));
    assert_eq!(
        ack.iter().map(|p| p.count).collect::<Vec<_>>(),
        [30_000_000]
    );
    for name in ["syn-1m.pkt", "ack-1m.pkt"] {
        let text = read(name);
        let cmds: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .collect();
        assert!(
            cmds.contains(&"disable 0 range") && cmds.contains(&"enable 0 pcap"),
            "{name}"
        );
    }
}

/// imix.lua: source MAC set, a SYN phase (ACK cleared) before the IMIX, both bounded.
#[test]
fn imix_script_sets_its_macs_and_opens_its_flows() {
    let text = read("imix.lua");
    let pos = |s: &str| {
        text.find(s)
            .unwrap_or_else(|| panic!("imix.lua lacks `{s}`"))
    };
    assert!(pos("\"range 0 src mac start \" .. gen_mac") < pos("pktgen.load(path)"));
    assert!(pos("\"range 0 tcp flag clr all\"") < pos("\"range 0 tcp flag set syn\""));
    assert!(pos("\"set 0 count \" .. 2 * #sizes") < pos("\"start 0\""));
    assert!(pos("pktgen.load(path)") < pos("pktgen.seqTable("));
    assert!(pos("eth_src_addr = gen_mac") < pos("pktgen.start(\"0\")"));
    assert!(pos("pktgen.set(\"0\", \"count\", 12000000)") < pos("pktgen.start(\"0\")"));
    assert_eq!(
        text.matches("\"disable 0 range\"").count(),
        1,
        "sequence mode needs range mode off"
    );
}

/// No address outside 198.18.0.0/15 and the TEST-NETs anywhere in perf/pktgen (comments too).
#[test]
fn every_address_is_allowed() {
    let mut seen = 0;
    for e in std::fs::read_dir(dir()).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() || path.extension().is_some_and(|x| x == "patch") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for word in text.split(|c: char| !(c.is_ascii_digit() || c == '.')) {
            let word = word.trim_matches('.');
            if let Ok(a) = word.parse::<Ipv4Addr>() {
                seen += 1;
                let o = a.octets();
                // Range increments (0.0.0.1, 0.0.0.0) and default routes are not addresses.
                assert!(o[0] == 0 || allowed(a), "{}: {a}", path.display());
            }
        }
    }
    assert!(seen > 50, "the profiles name addresses ({seen} found)");
}

#[test]
fn the_model_refuses_what_pktgen_would_do_wrong() {
    let base = read("nat.pkt");
    // The profiles as the issue found them: no SYN phase means every packet is an ACK.
    let no_syn = base.replace("range 0 tcp flag set syn\n", "");
    assert_eq!(run_pkt("x", &no_syn)[0].flags, 0);
    // The destination left walking (pktgen's default increment of 1) runs off the VIP.
    let walk = base.replace("range 0 dst port inc 0\n", "range 0 dst port inc 1\n");
    let r = std::panic::catch_unwind(|| run_pkt("x", &walk));
    assert!(r.is_err());
    // No count: never stops.
    let unbounded = base.replace("set 0 count 8192\n", "");
    assert!(std::panic::catch_unwind(|| run_pkt("x", &unbounded)).is_err());
}
