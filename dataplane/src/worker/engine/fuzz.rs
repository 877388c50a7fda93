//! The fuzz driver: arbitrary bytes become a sequence of frames on two ports of two workers,
//! run through the whole engine ([`super::sim`], config [`FUZZ_CONFIG`]: the example config's
//! NAT, DR, TUN and persistent services, plus IPv6 on both ports with NAT66, DR and TUN6
//! services). The cargo-fuzz target (dataplane/fuzz, `engine`) and a bounded proptest
//! (dataplane/tests/engine_proptest.rs) both call [`drive`].
//!
//! Input format, record after record: a control byte (bit 0: worker, bit 1: port ext/int,
//! bits 2-5: template, bits 6-7: clock step none / 1 ms / 2.5 s / 400 s), a length byte (bit 7:
//! the IPv6 templates, bits 0-6: the length), then that many bytes. Template 0 takes the bytes
//! as the whole frame; the others start from a
//! well-formed frame of the scenario (a SYN to a NAT service, a reply from a real, a fragment,
//! an ICMP error quoting a connection, ARP, ...) and read the bytes as (offset, value) pairs to
//! overwrite, a last odd byte cutting the frame short. So the fuzzer reaches every decision
//! quickly and still mangles every field.
//!
//! Besides "never panics", every record checks that no packet is lost: each frame received or
//! handed over is sent, handed on, given to the kernel, parked, or counted as a drop.

use super::sim::{Sim, EXAMPLE_CONFIG};
use crate::lb::forward::ndp;
use crate::lb::forward::test_packets::{frame, icmp, ip_frame, tcp, udp, Ip};
use crate::lb::forward::test_packets6 as t6;
use crate::wire::arp::arp_op;
use crate::wire::{ether_type, ArpRepr, MacAddr};
use crate::worker::counters::Counter;
use std::net::{Ipv4Addr, Ipv6Addr};

const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
const VIP_TUN: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 101);
const VIP_STICKY: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 102);
const REAL1: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 11);
const REAL2: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 12);
const REAL2_MAC: [u8; 6] = [2, 0, 0, 0, 2, 0x12];
const CPORT: u16 = 40000;

/// The IPv6 part of the fuzz config: appended to the example's ports, routes, neighbours and
/// services.
const V6_PORTS: [(&str, &str); 2] = [
    (
        "ip: 198.18.0.1/24,",
        "ip: 198.18.0.1/24, ip6: \"2001:db8::1/64\",",
    ),
    (
        "ip: 198.19.0.1/24,",
        "ip: 198.19.0.1/24, ip6: \"2001:db8:1::1/64\",",
    ),
];
const V6_SERVICES: &str = r#"  - {name: web6, vip: "2001:db8::100", port: 80, scheduler: rr, forward: nat,
     reals: [{ip: "2001:db8:1::11"}, {ip: "2001:db8:1::12"}]}
  - {name: dns6, vip: "2001:db8::100", port: 53, protocol: udp, forward: dr,
     reals: [{ip: "2001:db8:1::11"}]}
  - {name: tun6, vip: "2001:db8::101", port: 80, forward: tun,
     reals: [{ip: "2001:db8:1::12"}]}
"#;

/// The example config with IPv6 (see the module doc).
pub fn fuzz_config() -> String {
    let mut c = EXAMPLE_CONFIG.to_string();
    for (from, to) in V6_PORTS {
        c = c.replacen(from, to, 1);
    }
    c = c.replacen(
        "routes: [{prefix: 0.0.0.0/0, via: 198.18.0.254}]",
        "routes: [{prefix: 0.0.0.0/0, via: 198.18.0.254}, {prefix: \"::/0\", via: \"2001:db8::fe\"}]",
        1,
    );
    c = c.replacen(
        "neighbors:\n",
        "neighbors:\n  - {ip: \"2001:db8::fe\", mac: \"02:00:00:00:01:fe\"}\n  - {ip: \"2001:db8:1::11\", mac: \"02:00:00:00:02:11\"}\n",
        1,
    );
    // A small IPv6 table: each fuzz case builds a fresh simulation.
    c = c.replacen(
        "conn: {max_per_core: 1024,",
        "conn: {max_per_core: 1024, max_per_core_v6: 1024,",
        1,
    );
    c.push_str(V6_SERVICES);
    c
}

const CLIENT6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 5, 0, 0, 0, 0, 2);
const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100);
const VIP6_TUN: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x101);
const REAL6_1: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x11);
const REAL6_2: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x12);
const OWN6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);

/// The IPv6 scenario frames (index 0 is unused: raw bytes): NAT66, DR, TUN6 (and too big for
/// it), fragments, a reply, echo, ICMPv6 errors both ways, ND, extension headers, the kernel's.
pub fn templates6() -> Vec<Vec<u8>> {
    let ip = t6::Ip6::new;
    let f = |l3: Vec<u8>| t6::ip6_frame(false, &l3, 0).0;
    let frag = |offset: u16, more: bool, l4: &[u8]| {
        let mut h = vec![crate::wire::ip_proto::UDP, 0];
        h.extend_from_slice(&(offset | u16::from(more)).to_be_bytes());
        h.extend_from_slice(&0x4242_4242u32.to_be_bytes());
        t6::ipv6_ext(
            ip(CLIENT6, VIP6),
            crate::wire::ip_proto::IPV6_FRAGMENT,
            &h,
            l4,
        )
    };
    let datagram = t6::udp6_datagram(ip(CLIENT6, VIP6), CPORT, 53, &[0x5a; 40]);
    let to_client = t6::tcp6(ip(VIP6, CLIENT6), 80, CPORT, b"");
    let to_real = t6::tcp6(ip(CLIENT6, REAL6_1), CPORT, 80, b"");
    let dest_opts = [crate::wire::ip_proto::TCP, 0, 1, 4, 0, 0, 0, 0];
    let mut ns = [0u8; 90];
    let ns_len = ndp::build_neighbor_solicit(
        &mut ns,
        None,
        MacAddr([2, 0, 0, 0, 1, 0xfe]),
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xfe),
        VIP6,
    )
    .unwrap_or(0);
    let mut na = [0u8; 90];
    let na_len = ndp::build_unsolicited_na(&mut na, None, MacAddr(REAL2_MAC), REAL6_2).unwrap_or(0);
    vec![
        Vec::new(),
        f(t6::tcp6(ip(CLIENT6, VIP6), CPORT, 80, b"")),
        f(t6::tcp6(ip(CLIENT6, VIP6), CPORT, 80, &[0x11; 200])),
        f(t6::udp6(ip(CLIENT6, VIP6), CPORT, 53, b"query")),
        f(t6::tcp6(ip(CLIENT6, VIP6_TUN), CPORT, 80, b"")),
        f(t6::tcp6(ip(CLIENT6, VIP6_TUN), CPORT, 80, &[0x22; 1440])),
        f(frag(0, true, &datagram[..24])),
        f(frag(24, false, &datagram[24..])),
        f(t6::tcp6(ip(REAL6_1, CLIENT6), 80, CPORT, b"")),
        f(t6::icmp6(ip(CLIENT6, VIP6), 128, 0, [0, 7, 0, 1], b"ping")),
        f(t6::icmp6(
            ip(CLIENT6, VIP6),
            2,
            0,
            1280u32.to_be_bytes(),
            &to_client[..48],
        )),
        f(t6::icmp6(
            ip(REAL6_1, CLIENT6),
            1,
            4,
            [0; 4],
            &to_real[..48],
        )),
        ns[..ns_len].to_vec(),
        na[..na_len].to_vec(),
        f(t6::ipv6_ext(
            ip(CLIENT6, VIP6),
            crate::wire::ip_proto::IPV6_DSTOPTS,
            &dest_opts,
            &t6::tcp6_segment(ip(CLIENT6, VIP6), CPORT + 1, 80, b""),
        )),
        f(t6::tcp6(ip(CLIENT6, OWN6), CPORT, 22, b"")),
    ]
}

/// The scenario frames the templates start from (index 0 is unused: raw bytes).
pub fn templates() -> Vec<Vec<u8>> {
    let ip = Ip::new;
    let first_frag = |ip: Ip, ident: u16| {
        let mut p = udp(ip, CPORT, 53, &[0x5a; 40], false);
        p[4..6].copy_from_slice(&ident.to_be_bytes());
        p[6] = 0x20; // MF
        refill_ip_checksum(&mut p);
        p
    };
    let later_frag = |ip: Ip, ident: u16| {
        let mut p = udp(ip, 0, 0, &[0xa5; 32], false);
        p[4..6].copy_from_slice(&ident.to_be_bytes());
        p[6..8].copy_from_slice(&6u16.to_be_bytes()); // offset 48, last
        refill_ip_checksum(&mut p);
        p
    };
    let to_client = tcp(ip(VIP, CLIENT), 80, CPORT, b"");
    let to_real = tcp(ip(CLIENT, REAL1), CPORT, 80, b"");
    let arp = |op: u16, sender_mac: MacAddr, sender: Ipv4Addr, target: Ipv4Addr| {
        let mut a = [0u8; 28];
        let mut r = ArpRepr::request(sender_mac, sender, target);
        r.operation = op;
        // A valid repr into a 28-byte buffer cannot fail; an empty body would only be a
        // malformed template.
        let _ = r.emit(&mut a);
        frame(false, ether_type::ARP, &a, 18).0
    };
    let f = |l3: Vec<u8>| ip_frame(false, &l3, 0).0;
    vec![
        Vec::new(),
        f(tcp(ip(CLIENT, VIP), CPORT, 80, b"")),
        f(tcp(ip(CLIENT, VIP), CPORT, 80, &[0x11; 200])),
        f(udp(ip(CLIENT, VIP), CPORT, 53, b"query", false)),
        f(tcp(ip(CLIENT, VIP_TUN), CPORT, 80, b"")),
        f(tcp(ip(CLIENT, VIP_TUN), CPORT, 80, &[0x22; 1460])),
        f(tcp(ip(CLIENT, VIP_STICKY), CPORT, 443, b"")),
        f(first_frag(ip(CLIENT, VIP), 0x4242)),
        f(later_frag(ip(CLIENT, VIP), 0x4242)),
        f(tcp(ip(REAL1, CLIENT), 80, CPORT, b"")),
        ip_frame(true, &tcp(ip(REAL2, CLIENT), 443, CPORT, b""), 6).0,
        f(icmp(ip(CLIENT, VIP), 8, 0, [0, 7, 0, 1], b"ping")),
        f(icmp(
            ip(Ipv4Addr::new(198, 18, 0, 254), VIP),
            3,
            3,
            [0; 4],
            &to_client[..28],
        )),
        f(icmp(
            ip(REAL1, CLIENT),
            3,
            4,
            [0, 0, 5, 0x78],
            &to_real[..28],
        )),
        arp(arp_op::REQUEST, MacAddr([2, 0, 0, 0, 1, 2]), CLIENT, VIP),
        arp(
            arp_op::REPLY,
            MacAddr(REAL2_MAC),
            REAL2,
            Ipv4Addr::new(198, 19, 0, 1),
        ),
    ]
}

fn refill_ip_checksum(p: &mut [u8]) {
    p[10..12].copy_from_slice(&[0, 0]);
    let c = crate::wire::checksum::checksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
}

/// A fresh simulation of the fuzz config with two workers.
pub fn new_sim() -> Sim {
    match Sim::new(&fuzz_config(), 2, true) {
        Ok(s) => s,
        Err(e) => panic!("the example config must load: {e}"),
    }
}

/// Runs `data` through a fresh simulation; panics on a lost packet (and, of course, on any
/// panic inside the engine).
pub fn drive(data: &[u8]) {
    let mut sim = new_sim();
    let templates = templates();
    let templates6 = templates6();
    drive_with(&mut sim, &[&templates, &templates6], data);
}

/// Runs `data` through `sim` (see the module doc for the format); `tables` are the IPv4 and
/// the IPv6 templates.
pub fn drive_with(sim: &mut Sim, tables: &[&[Vec<u8>]; 2], mut data: &[u8]) {
    let mut learned = false;
    while let [ctrl, len, rest @ ..] = data {
        // An empty IPv6 table (a caller without IPv6) falls back to the IPv4 one.
        let templates = match tables[usize::from(len >> 7)] {
            [] => tables[0],
            t => t,
        };
        let n = usize::from(len & 0x7f).min(rest.len());
        let (bytes, tail) = rest.split_at(n);
        data = tail;
        let w = usize::from(ctrl & 1);
        let port = (ctrl >> 1) & 1;
        let template = usize::from((ctrl >> 2) & 0x0f);
        sim.now += match ctrl >> 6 {
            0 => 0,
            1 => 1,
            2 => 2_500,
            _ => 400_000,
        };
        let frame = if template == 0 {
            bytes.to_vec()
        } else {
            let mut f = templates[template % templates.len()].clone();
            for pair in bytes.chunks(2) {
                match *pair {
                    [off, val] if !f.is_empty() => {
                        let at = usize::from(off) % f.len();
                        f[at] = val;
                    }
                    [cut] => f.truncate(usize::from(cut)),
                    _ => {}
                }
            }
            f
        };
        if template == 15 && len >> 7 == 0 && !learned {
            // The management thread would resolve real2 from this reply.
            learned = true;
            if let Err(e) = sim.learn(REAL2, REAL2_MAC) {
                panic!("snapshot: {e}");
            }
        }
        sim.rx(w, u16::from(port), &frame);
        check_accounting(sim);
    }
}

/// Every frame received or handed over is sent, handed on, given to the kernel, parked, or
/// counted as a drop.
pub fn check_accounting(sim: &Sim) {
    let total = |c: Counter| -> u64 { sim.workers.iter().map(|w| w.totals.get(c)).sum() };
    let came = total(Counter::Rx) + total(Counter::HandoffIn);
    let drops: u64 = Counter::ALL
        .iter()
        .filter(|c| c.name().starts_with("drop_") || **c == Counter::ConnRefusedFull)
        .map(|&c| total(c))
        .sum();
    let parked: u64 = sim.workers.iter().map(|w| w.engine.parked() as u64).sum();
    let went =
        total(Counter::Tx) + total(Counter::HandoffOut) + total(Counter::ToKernel) + drops + parked;
    assert_eq!(
        came,
        went,
        "a packet was lost: {:?}, {parked} parked",
        sim.nonzero_counters()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each template reaches the decision it was made for (so the fuzzer starts deep).
    #[test]
    fn templates_reach_their_decisions() {
        let mut sim = new_sim();
        let t = templates();
        let t6 = templates6();
        // Worker 0, each template unchanged on the port it belongs to.
        let port_of = |i: usize| if matches!(i, 9 | 10 | 13 | 15) { 1 } else { 0 };
        let port_of6 = |i: usize| if matches!(i, 8 | 11 | 13) { 1 } else { 0 };
        for w in 0..2u8 {
            for i in 1..t.len() {
                let ctrl = w | (port_of(i) << 1) | ((i as u8) << 2);
                drive_with(&mut sim, &[&t, &t6], &[ctrl, 0]);
            }
            for i in 1..t6.len() {
                let ctrl = w | (port_of6(i) << 1) | ((i as u8) << 2);
                drive_with(&mut sim, &[&t, &t6], &[ctrl, 0x80]);
            }
        }
        let c = sim.nonzero_counters();
        for name in [
            "nat_in",
            "nat_out",
            "dr_in",
            "tun_in",
            "frag_needed_sent",
            "fragments_forwarded",
            "echo_replies",
            "icmp_errors_translated",
            "arp_replies",
            "handoff_in",
            "to_kernel",
            "nd_answered",
            "packet_too_big_sent",
            "conn_new",
        ] {
            assert!(c.get(name).is_some_and(|v| *v > 0), "{name}: {c:?}");
        }
    }

    /// The fuzz config is the example's with every IPv6 addition in place.
    #[test]
    fn the_fuzz_config_is_dual_stack() {
        let c = fuzz_config();
        for want in [
            "ip6: \"2001:db8::1/64\"",
            "ip6: \"2001:db8:1::1/64\"",
            "via: \"2001:db8::fe\"",
            "{ip: \"2001:db8::fe\"",
            "max_per_core_v6: 1024",
            "name: tun6",
        ] {
            assert_eq!(c.matches(want).count(), 1, "{want}");
        }
        let snap = super::super::sim::snapshot_from_yaml(&c, 2).unwrap();
        assert_eq!(snap.v6.services.services().len(), 3);
    }

    #[test]
    fn mangled_and_raw_records_lose_nothing() {
        let data: Vec<u8> = (0..4000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        drive(&data);
    }
}
