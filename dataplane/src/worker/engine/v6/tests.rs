//! The IPv6 path's classification and its scheduler sets across snapshots (the forwarding
//! itself: tests/engine_fixtures6.rs).

use super::super::sim::Sim;
use super::*;
use crate::wire::{parse_frame, Net};

const CONFIG: &str = r#"eal: {lcores: "0-1", memory_mb: 256, hugepages: off}
workers: {cores: [1]}
mode: lb
ports:
  - {name: ext, device: net_null0, ip: 198.18.0.1/24, ip6: "2001:db8::1/64", mac: "02:d0:00:00:00:01"}
  - {name: int, device: net_null1, ip: 198.19.0.1/24, ip6: "2001:db8:1::1/64", mac: "02:d0:00:00:00:02"}
routes: [{prefix: "::/0", via: "2001:db8::fe"}]
services:
  - {name: web6, vip: "2001:db8::100", port: 80, scheduler: rr,
     reals: [{ip: "2001:db8:1::11"}, {ip: "2001:db8:1::12"}]}
"#;

/// Ethernet + IPv6 to `dst` with next header `nh`, hop limit `hops` and `l4`.
fn frame(dst: &str, nh: u8, hops: u8, l4: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0xd0, 0, 0, 0, 1, 2, 0, 0, 0, 1, 0xfe, 0x86, 0xdd];
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    f.extend_from_slice(&[nh, hops]);
    f.extend_from_slice(&"2001:db8:5::2".parse::<Ipv6Addr>().unwrap().octets());
    f.extend_from_slice(&dst.parse::<Ipv6Addr>().unwrap().octets());
    f.extend_from_slice(l4);
    f
}

fn facts(f: &[u8]) -> Ipv6Facts {
    match parse_frame(f).unwrap().net {
        Net::Ipv6(ip) => ip,
        other => panic!("not IPv6: {other:?}"),
    }
}

#[test]
fn classes_by_destination_and_protocol() {
    let snap = super::super::sim::snapshot_from_yaml(CONFIG, 1).unwrap();
    let tcp = [0u8; 20];
    let echo = [128, 0, 0, 0, 0, 1, 0, 1];
    let unreach = [1, 4, 0, 0, 0, 0, 0, 0];
    let ns = {
        let mut m = vec![135, 0, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&[0; 16]);
        m
    };
    let cases: [(&str, u8, &[u8], Class6); 12] = [
        ("ff02::1:ff00:100", ip_proto::ICMPV6, &ns, Class6::Nd),
        ("2001:db8::1", ip_proto::ICMPV6, &echo, Class6::Echo),
        ("2001:db8::1", ip_proto::TCP, &tcp, Class6::Kernel),
        ("2001:db8::100", ip_proto::ICMPV6, &echo, Class6::Echo),
        (
            "2001:db8::100",
            ip_proto::ICMPV6,
            &unreach,
            Class6::IcmpToVip,
        ),
        ("2001:db8::100", ip_proto::TCP, &tcp, Class6::ToService),
        ("fe80::1", ip_proto::TCP, &tcp, Class6::Kernel),
        ("ff02::2", ip_proto::UDP, &[0; 8], Class6::Kernel),
        ("ff05::2", ip_proto::UDP, &[0; 8], Class6::NotForUs),
        ("2001:db8:5::9", ip_proto::TCP, &tcp, Class6::Reply),
        (
            "2001:db8:5::9",
            ip_proto::ICMPV6,
            &unreach,
            Class6::IcmpFromReal,
        ),
        ("2001:db8:5::9", ip_proto::ICMPV6, &echo, Class6::NotForUs),
    ];
    for (dst, nh, l4, want) in cases {
        let f = frame(dst, nh, 64, l4);
        assert_eq!(classify6(&snap, &facts(&f)), want, "{dst} {nh}");
    }
}

#[test]
fn a_services_change_brings_a_new_ipv6_scheduler_set_built_off_the_worker() {
    let mut sim = Sim::new(CONFIG, 1, false).unwrap();
    let generation = |sim: &Sim| sim.workers[0].engine.v6.as_ref().unwrap().sched_generation;
    let first = generation(&sim);
    assert_eq!(sim.snapshot().v6.services_generation, first);
    // A neighbour-only change: the same set stays.
    sim.learn("198.19.0.11".parse().unwrap(), [2, 0, 0, 0, 2, 0x11])
        .unwrap();
    sim.poll();
    sim.rx(0, 1, &frame("2001:db8:5::9", ip_proto::UDP, 64, &[0; 8]));
    assert_eq!(generation(&sim), first);
    // A weight change: a new generation, its set taken from the snapshot.
    let heavier = CONFIG.replace(
        "{ip: \"2001:db8:1::12\"}",
        "{ip: \"2001:db8:1::12\", weight: 3}",
    );
    sim.reload(&heavier).unwrap();
    let snap = sim.snapshot();
    assert_eq!(snap.v6.services_generation, first + 1);
    assert!(snap.v6.scheds[0].len() == 1, "built with the snapshot");
    sim.rx(0, 1, &frame("2001:db8:5::9", ip_proto::UDP, 64, &[0; 8]));
    assert_eq!(generation(&sim), first + 1);
    assert!(
        sim.snapshot().v6.take_schedulers(0).is_none(),
        "taken by the worker"
    );
}

/// Ethernet + IPv6 `src` -> `dst` carrying a TCP segment `sport` -> `dport` with `flags`.
fn tcp_frame(src: &str, dst: &str, sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    let mut tcp = vec![0u8; 20];
    tcp[0..2].copy_from_slice(&sport.to_be_bytes());
    tcp[2..4].copy_from_slice(&dport.to_be_bytes());
    tcp[12] = 0x50;
    tcp[13] = flags;
    tcp[14..16].copy_from_slice(&8192u16.to_be_bytes());
    let mut f = frame(dst, ip_proto::TCP, 64, &tcp);
    f[22..38].copy_from_slice(&src.parse::<Ipv6Addr>().unwrap().octets());
    f
}

/// The IPv6 path counts each real's connections, packets and bytes both ways under the IPv6
/// services' real ids (what `ctl list --stats` and the metrics show), apart from the IPv4 ones.
#[test]
fn ipv6_traffic_is_counted_per_real() {
    let mut sim = Sim::new(CONFIG, 1, false).unwrap();
    let syn = tcp_frame("2001:db8:5::2", "2001:db8::100", 40000, 80, 0x02);
    sim.rx(0, 0, &syn);
    let v6 = sim.workers[0].engine.v6.as_ref().unwrap();
    let conns: Vec<_> = v6.conns.iter().map(|(_, c)| c).collect();
    assert_eq!(conns.len(), 1);
    let (real, real_addr) = (conns[0].real as usize, conns[0].real_addr);
    let synack = tcp_frame(&real_addr.to_string(), "2001:db8:5::2", 80, 40000, 0x12);
    sim.rx(0, 1, &synack);
    let v6 = sim.workers[0].engine.v6.as_ref().unwrap();
    let other = 1 - real;
    assert_eq!(
        v6.traffic.get(real),
        [1, 1, 1, syn.len() as u64, synack.len() as u64],
        "[conns, pkts in, pkts out, bytes in, bytes out] of real {real_addr}"
    );
    assert_eq!(v6.traffic.get(other), [0; 5]);
    assert_eq!(
        sim.workers[0].engine.traffic.get(real),
        [0; 5],
        "IPv4's ids"
    );
    let c = sim.nonzero_counters();
    assert_eq!(
        (c.get("nat_in"), c.get("nat_out")),
        (Some(&1), Some(&1)),
        "{c:?}"
    );
}
