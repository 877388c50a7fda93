//! Live capture and inspection with DPDK's own tools, attached to the running appliance as
//! secondary processes under its EAL file prefix (docs/operations.md): dpdk-dumpcap on the int
//! port with a filter, dpdk-pdump on the ext port both ways, at the same time, while curl fetches
//! the VIP; then dpdk-proc-info and dpdk-telemetry.py read the port counters. The captures show
//! the VS-NAT rewrite of one connection on both sides, and the appliance keeps forwarding.
mod common;
use common::packets::seen;
use common::testbed::*;
use common::*;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const REALS: [Ipv4Addr; 2] = [Ipv4Addr::new(198, 19, 0, 11), Ipv4Addr::new(198, 19, 0, 12)];
const SYN: u8 = 0x02;
const SYN_ACK: u8 = 0x12;

/// One TCP segment of a capture: addresses, ports, flags, sequence number, TTL.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Seg {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    flags: u8,
    seq: u32,
    ttl: u8,
    /// IPv4 and TCP checksums both valid.
    sums_ok: bool,
}

fn segments(frames: &[Vec<u8>]) -> Vec<Seg> {
    frames
        .iter()
        .filter(|f| f.len() >= 54)
        .map(|f| seen(f))
        .filter(|s| s.ethertype == 0x0800 && s.proto == 6)
        .map(|s| {
            let tcp = &s.l3[usize::from(s.l3[0] & 15) * 4..];
            Seg {
                src: s.src,
                dst: s.dst,
                sport: s.sport,
                dport: s.dport,
                flags: tcp[13] & 0x3f,
                seq: u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]),
                ttl: s.ttl,
                sums_ok: s.ip_ok && s.l4_ok,
            }
        })
        .collect()
}

/// The packets of a pcapng file (what dpdk-dumpcap writes by default). pcap-file reads the
/// blocks; DPDK 22.11 ends its packet blocks' options without the end-of-options marker, which
/// pcap-file 2.0 refuses, so the Enhanced Packet Block's fixed header is read here.
fn read_pcapng(path: &Path) -> Vec<Vec<u8>> {
    const ENHANCED_PACKET: u32 = 6;
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        data.get(8..12),
        Some(&[0x4d, 0x3c, 0x2b, 0x1a][..]),
        "a little-endian pcapng section"
    );
    let mut r = pcap_file::pcapng::PcapNgReader::new(&data[..]).expect("a pcapng file");
    let mut out = Vec::new();
    while let Some(block) = r.next_raw_block() {
        let block = block.expect("a pcapng block");
        if block.type_ != ENHANCED_PACKET {
            continue;
        }
        // interface id, timestamp high and low, captured length, original length, data.
        let b = &block.body;
        let caplen = u32::from_le_bytes(b[12..16].try_into().unwrap()) as usize;
        out.push(b[20..20 + caplen].to_vec());
    }
    out
}

/// A DPDK tool run inside the balancer's namespace (where the af_packet ports' interfaces are),
/// line-buffered so its progress lines reach `log` as they are printed.
fn tool_in_lb(args: &[&str], log: &Path) -> Child {
    let f = std::fs::File::create(log).expect("log file");
    Command::new("ip")
        .args(["netns", "exec", "dpt-lb", "stdbuf", "-oL", "-eL"])
        .args(args)
        .stdout(f.try_clone().expect("dup"))
        .stderr(f)
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {args:?}: {e}"))
}

fn wait_for_line(log: &Path, needle: &str, child: &mut Child, limit: Duration) {
    let start = Instant::now();
    while start.elapsed() < limit {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains(needle) {
            return;
        }
        if let Some(st) = child.try_wait().expect("wait") {
            panic!("{} exited ({st}) before `{needle}`:\n{text}", log.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!(
        "no `{needle}` within {limit:?}:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// Waits for the tool to exit (sending SIGINT first when `interrupt`); its exit code.
fn finish(mut child: Child, interrupt: bool, log: &Path, limit: Duration) -> Option<i32> {
    if interrupt {
        let ok = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -INT failed");
    }
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().expect("wait") {
            return st.code();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{} did not finish within {limit:?}:\n{}",
                log.display(),
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `RX-packets` of port `port` as dpdk-proc-info prints it.
fn proc_info_rx(prefix: &str, port: u16) -> u64 {
    let out = Command::new("dpdk-proc-info")
        .args(["--file-prefix", prefix, "--", "--stats"])
        .output()
        .expect("run dpdk-proc-info");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "dpdk-proc-info: {text}");
    let header = format!("NIC statistics for port {port} ");
    let section = text
        .split_once(&header)
        .unwrap_or_else(|| panic!("no `{header}` in:\n{text}"))
        .1;
    let field = section
        .split_once("RX-packets:")
        .unwrap_or_else(|| panic!("no RX-packets for port {port}:\n{text}"))
        .1;
    field
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("RX-packets of port {port} is not a number:\n{text}"))
}

/// `ipackets` of port `port` from the telemetry socket, through dpdk-telemetry.py.
fn telemetry_rx(prefix: &str, port: u16) -> u64 {
    let mut child = Command::new("dpdk-telemetry.py")
        .args(["-f", prefix])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run dpdk-telemetry.py");
    use std::io::Write;
    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(stdin, "/ethdev/stats,{port}").expect("write query");
    drop(stdin);
    let out = child.wait_with_output().expect("telemetry output");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let line = text
        .lines()
        .find(|l| l.contains("\"/ethdev/stats\""))
        .unwrap_or_else(|| {
            panic!(
                "no /ethdev/stats reply:\n{text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let v: serde_json::Value = serde_json::from_str(line.trim_start_matches("--> "))
        .unwrap_or_else(|e| panic!("{e}: {line}"));
    v["/ethdev/stats"]["ipackets"]
        .as_u64()
        .unwrap_or_else(|| panic!("no ipackets in {line}"))
}

#[test]
fn dumpcap_and_pdump_show_the_nat_rewrite_while_it_forwards() {
    let _tb = Testbed::up("nat");
    let d = TestDir::new();
    // Secondaries map the primary's hugepage files: no tool attaches to a --no-huge appliance.
    let yaml = config_from(
        "nat.yaml",
        &[
            ("hugepages: auto", "hugepages: on"),
            ("memory_mb: 512", "memory_mb: 256"),
        ],
    );
    let (mut app, cfg) = start_appliance(&d, &yaml);
    let prefix = app.prefix.clone();

    // int (DPDK port 1, net_af_packet1): dpdk-dumpcap with a filter, as pcapng. The health
    // checks also use port 80, from the appliance's own address: the filter keeps the client's.
    let (int_cap, int_log) = (d.path("int.pcapng"), d.path("dumpcap.log"));
    let int_path = int_cap.to_str().unwrap();
    let mut dumpcap = tool_in_lb(
        &[
            "dpdk-dumpcap",
            "--file-prefix",
            &prefix,
            "-i",
            "net_af_packet1",
            "-f",
            "tcp port 80 and host 198.18.0.2",
            "-c",
            "12",
            "-a",
            "duration:90",
            "-w",
            int_path,
        ],
        &int_log,
    );
    // ext (DPDK port 0): dpdk-pdump, received and sent packets into two pcap files.
    let (rx_cap, tx_cap, ext_log) = (
        d.path("ext-rx.pcap"),
        d.path("ext-tx.pcap"),
        d.path("pdump.log"),
    );
    let pdump_arg = format!(
        "port=0,queue=*,rx-dev={},tx-dev={}",
        rx_cap.display(),
        tx_cap.display()
    );
    let mut pdump = tool_in_lb(
        &[
            "dpdk-pdump",
            "--file-prefix",
            &prefix,
            "--",
            "--pdump",
            &pdump_arg,
        ],
        &ext_log,
    );
    let limit = Duration::from_secs(60);
    wait_for_line(
        &int_log,
        "Capturing on 'net_af_packet1'",
        &mut dumpcap,
        limit,
    );
    wait_for_line(&ext_log, "capture for (1) tuples", &mut pdump, limit);

    for _ in 0..3 {
        let body = curl().expect("the VIP answers while captured");
        assert!(body == "real1" || body == "real2", "{body}");
    }
    let code = finish(dumpcap, false, &int_log, Duration::from_secs(90));
    assert_eq!(
        code,
        Some(0),
        "{}",
        std::fs::read_to_string(&int_log).unwrap()
    );
    let code = finish(pdump, true, &ext_log, Duration::from_secs(30));
    assert_eq!(
        code,
        Some(0),
        "{}",
        std::fs::read_to_string(&ext_log).unwrap()
    );

    // int: at least 12 packets (dumpcap checks its count after each burst), all the client's
    // (the filter), none to or from the VIP.
    let int = segments(&read_pcapng(&int_cap));
    assert!(int.len() >= 12, "{int:#?}");
    assert!(
        int.iter().all(|s| s.src == CLIENT || s.dst == CLIENT),
        "the filter let other traffic through: {int:#?}"
    );
    let vip: Ipv4Addr = VIP.parse().unwrap();
    assert!(
        int.iter().all(|s| s.src != vip && s.dst != vip),
        "the VIP appears on the real servers' side: {int:#?}"
    );
    // The first connection on int: client -> real (destination rewritten, client source kept),
    // and the real's SYN-ACK back to the client.
    let syn_int = *int
        .iter()
        .find(|s| s.flags == SYN)
        .unwrap_or_else(|| panic!("no SYN on int: {int:#?}"));
    assert_eq!((syn_int.src, syn_int.dport), (CLIENT, 80), "{syn_int:?}");
    assert!(REALS.contains(&syn_int.dst), "{syn_int:?}");
    let real = syn_int.dst;
    let cport = syn_int.sport;
    let synack_int = *int
        .iter()
        .find(|s| s.flags == SYN_ACK && s.dst == CLIENT && s.dport == cport)
        .unwrap_or_else(|| panic!("no SYN-ACK for port {cport} on int: {int:#?}"));
    assert_eq!((synack_int.src, synack_int.sport), (real, 80));

    // ext, the same connection: the client's SYN to the VIP (same sequence number; one hop
    // less of TTL on int: the appliance routes), and the SYN-ACK leaving from the VIP.
    let rx = segments(&read_pcap(&rx_cap));
    let tx = segments(&read_pcap(&tx_cap));
    let syn_ext = *rx
        .iter()
        .find(|s| s.flags == SYN && s.src == CLIENT && s.sport == cport)
        .unwrap_or_else(|| panic!("no SYN from port {cport} received on ext: {rx:#?}"));
    assert_eq!(
        syn_ext,
        Seg {
            dst: vip,
            ttl: syn_int.ttl + 1,
            ..syn_int
        }
    );
    let synack_ext = *tx
        .iter()
        .find(|s| s.flags == SYN_ACK && s.dst == CLIENT && s.dport == cport)
        .unwrap_or_else(|| panic!("no SYN-ACK to port {cport} sent on ext: {tx:#?}"));
    assert_eq!(
        synack_ext,
        Seg {
            src: vip,
            ttl: synack_int.ttl - 1,
            ..synack_int
        }
    );
    assert!(
        rx.iter().all(|s| s.dst == vip) && tx.iter().all(|s| s.src == vip),
        "ext carries only client <-> VIP: rx {rx:#?} tx {tx:#?}"
    );
    let all = int.iter().chain(&rx).chain(&tx);
    assert!(
        all.clone().all(|s| s.sums_ok),
        "a bad checksum: {:#?}",
        all.collect::<Vec<_>>()
    );

    // `dataplane capture` runs dpdk-dumpcap by the config's port name: ext, one connection.
    let (ext_cap, cap_log) = (d.path("ext.pcapng"), d.path("capture.log"));
    let mut capture = tool_in_lb(
        &[
            bin(),
            "capture",
            "--config",
            cfg.to_str().unwrap(),
            "--file-prefix",
            &prefix,
            "ext",
            "--",
            "-f",
            "tcp port 80",
            "-c",
            "2",
            "-w",
            ext_cap.to_str().unwrap(),
        ],
        &cap_log,
    );
    wait_for_line(
        &cap_log,
        "Capturing on 'net_af_packet0'",
        &mut capture,
        limit,
    );
    assert!(curl().is_some(), "the VIP answers while captured");
    let code = finish(capture, false, &cap_log, Duration::from_secs(60));
    assert_eq!(
        code,
        Some(0),
        "{}",
        std::fs::read_to_string(&cap_log).unwrap()
    );
    let ext = segments(&read_pcapng(&ext_cap));
    assert!(ext.len() >= 2, "{ext:#?}");
    let (syn, synack) = (ext[0], ext[1]);
    assert_eq!(
        (syn.src, syn.dst, syn.dport, syn.flags),
        (CLIENT, vip, 80, SYN)
    );
    assert_eq!(
        (
            synack.src,
            synack.sport,
            synack.dst,
            synack.dport,
            synack.flags
        ),
        (vip, 80, CLIENT, syn.sport, SYN_ACK)
    );

    // It kept forwarding with the tools gone.
    let t = tally(4);
    assert_eq!(
        t.get("real1").copied().unwrap_or(0) + t.get("real2").copied().unwrap_or(0),
        4,
        "{t:?}"
    );

    // dpdk-proc-info and dpdk-telemetry.py read the same port counters (ext is quiet between
    // the two reads unless an ARP arrives: then read again).
    let mut reads = Vec::new();
    for _ in 0..5 {
        let (a, b) = (proc_info_rx(&prefix, 0), telemetry_rx(&prefix, 0));
        reads.push((a, b));
        if a == b {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let (rx_pkts, tel_pkts) = *reads.last().unwrap();
    assert_eq!(rx_pkts, tel_pkts, "proc-info vs telemetry: {reads:?}");
    assert!(
        rx_pkts >= rx.len() as u64 + 4,
        "ext received at least the captured packets and the last 4 SYNs: {rx_pkts} < {} + 4",
        rx.len()
    );

    let (code, _, summary) = app.stop("TERM", Duration::from_secs(10));
    assert_eq!(code, Some(0), "{}", app.stderr());
    println!("{summary}");
    // A clean stop leaves no runtime directory or hugepage files behind under the prefix.
    assert!(
        !Path::new(&format!("/var/run/dpdk/{prefix}")).exists(),
        "runtime directory left"
    );
    let left: Vec<String> = std::fs::read_dir("/dev/hugepages")
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|n| n.starts_with(&format!("{prefix}map_")))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "hugepage files left: {left:?}");
}
