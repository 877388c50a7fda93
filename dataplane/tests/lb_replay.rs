//! Packet-level behaviour of the balancer pinned by replay (`dataplane replay`): crafted
//! frames in, each mode's exact rewrite out, through the real binary and DPDK's net_pcap.
mod common;
use common::packets::*;
use common::two_ports::{config, replay, EXT_MAC, INT_MAC};
use common::*;
use dataplane::worker::counters::{Counter, Family};

fn vip() -> std::net::Ipv4Addr {
    ip("198.18.0.100")
}
fn client() -> std::net::Ipv4Addr {
    ip("198.18.0.2")
}

#[test]
fn arp_and_echo_for_vip_and_port_address() {
    let r = replay(
        &config("nat", ""),
        &[
            (1, arp_request(CLIENT_MAC, client(), vip())),
            (1, arp_request(CLIENT_MAC, client(), ip("198.18.0.1"))),
            (1, arp_request(CLIENT_MAC, client(), ip("198.18.0.77"))), // not ours: no answer
            (
                2,
                ipv4(EXT_MAC, CLIENT_MAC, client(), vip(), 1, &icmp_echo(7, 1)),
            ),
            (
                2,
                ipv4(
                    EXT_MAC,
                    CLIENT_MAC,
                    client(),
                    ip("198.18.0.1"),
                    1,
                    &icmp_echo(7, 2),
                ),
            ),
        ],
        &[],
    );
    assert_eq!(
        r.ext.len(),
        4,
        "two ARP replies and two echo replies:\n{}",
        r.summary
    );
    for (f, asked) in r.ext[..2].iter().zip([vip(), ip("198.18.0.1")]) {
        assert_eq!(&f[0..6], &CLIENT_MAC);
        assert_eq!(&f[6..12], &EXT_MAC);
        assert_eq!(&f[12..14], &[8, 6]);
        assert_eq!(u16::from_be_bytes([f[20], f[21]]), 2, "ARP reply");
        assert_eq!(&f[22..28], &EXT_MAC, "sender MAC is the port's");
        assert_eq!(
            &f[28..32],
            &asked.octets(),
            "sender IP is the one asked for"
        );
        assert_eq!(&f[32..38], &CLIENT_MAC);
    }
    for (f, from) in r.ext[2..].iter().zip([vip(), ip("198.18.0.1")]) {
        let s = seen(f);
        assert_eq!((s.dst_mac, s.src_mac), (CLIENT_MAC, EXT_MAC));
        assert_eq!((s.src, s.dst, s.proto), (from, client(), 1));
        assert!(s.ip_ok && s.l4_ok, "checksums");
        assert_eq!(s.l3[20], 0, "echo reply");
    }
    assert_eq!(counter(&r.summary, "arp_replies"), 2, "{}", r.summary);
    assert_eq!(counter(&r.summary, "echo_replies"), 2, "{}", r.summary);
    assert_eq!(counter(&r.summary, "drop_not_for_us"), 1, "{}", r.summary);
}

#[test]
fn nat_rewrites_both_ways_with_valid_checksums() {
    let syn = ipv4(
        EXT_MAC,
        ROUTER_MAC,
        client(),
        vip(),
        6,
        &tcp(40000, 80, 0x02, b""),
    );
    let syn2 = ipv4(
        EXT_MAC,
        ROUTER_MAC,
        client(),
        vip(),
        6,
        &tcp(40001, 80, 0x02, b""),
    );
    let synack = ipv4(
        INT_MAC,
        REAL1_MAC,
        ip("198.19.0.11"),
        client(),
        6,
        &tcp(80, 40000, 0x12, b""),
    );
    let r = replay(&config("nat", ""), &[(1, syn), (1, syn2)], &[(1, synack)]);
    assert_eq!(r.int.len(), 2, "{}", r.summary);
    let a = seen(&r.int[0]);
    let b = seen(&r.int[1]);
    // rr: the first connection to real1, the second to real2.
    assert_eq!(
        (a.src, a.dst, a.sport, a.dport),
        (client(), ip("198.19.0.11"), 40000, 80)
    );
    assert_eq!(
        (b.src, b.dst, b.sport, b.dport),
        (client(), ip("198.19.0.12"), 40001, 80)
    );
    assert_eq!((a.dst_mac, a.src_mac), (REAL1_MAC, INT_MAC));
    assert_eq!((b.dst_mac, b.src_mac), (REAL2_MAC, INT_MAC));
    assert_eq!(a.ttl, 63, "NAT routes: TTL decremented");
    assert!(a.ip_ok && a.l4_ok && b.ip_ok && b.l4_ok, "checksums");
    // The reply leaves by ext from the VIP, towards the client through the default route.
    assert_eq!(r.ext.len(), 1, "{}", r.summary);
    let c = seen(&r.ext[0]);
    assert_eq!(
        (c.src, c.dst, c.sport, c.dport),
        (vip(), client(), 80, 40000)
    );
    assert_eq!(
        (c.dst_mac, c.src_mac),
        (CLIENT_MAC, EXT_MAC),
        "the client is on-link"
    );
    assert!(c.ip_ok && c.l4_ok);
    assert_eq!(
        (
            counter(&r.summary, "nat_in"),
            counter(&r.summary, "nat_out")
        ),
        (2, 1),
        "{}",
        r.summary
    );
}

#[test]
fn non_syn_without_connection_is_dropped_and_counted() {
    let ack = ipv4(
        EXT_MAC,
        ROUTER_MAC,
        client(),
        vip(),
        6,
        &tcp(40000, 80, 0x10, b"x"),
    );
    let r = replay(&config("nat", ""), &[(1, ack)], &[]);
    assert!(r.int.is_empty());
    assert_eq!(counter(&r.summary, "drop_no_conn"), 1, "{}", r.summary);
}

#[test]
fn udp_connection_expires_by_capture_time() {
    let q = |sec| {
        (
            sec,
            ipv4(
                EXT_MAC,
                ROUTER_MAC,
                client(),
                vip(),
                17,
                &udp(5353, 53, b"query"),
            ),
        )
    };
    // Within the 300 s UDP timeout the connection holds (same real); after it, rr picks anew.
    let r = replay(&config("nat", ""), &[q(1000), q(1200), q(1600)], &[]);
    assert_eq!(r.int.len(), 3, "{}", r.summary);
    let dst: Vec<_> = r.int.iter().map(|f| seen(f).dst).collect();
    assert_eq!(
        dst,
        vec![ip("198.19.0.11"), ip("198.19.0.11"), ip("198.19.0.12")]
    );
    assert_eq!(counter(&r.summary, "conn_new"), 2, "{}", r.summary);
}

#[test]
fn nat_translates_icmp_errors_both_ways() {
    let syn = ipv4(
        EXT_MAC,
        ROUTER_MAC,
        client(),
        vip(),
        6,
        &tcp(40000, 80, 0x02, b""),
    );
    // The client's side says our reply (VIP:80 -> client:40000) could not be delivered.
    let reply_we_sent = ipv4(
        CLIENT_MAC,
        EXT_MAC,
        vip(),
        client(),
        6,
        &tcp(80, 40000, 0x12, b""),
    );
    let err_in = ipv4(
        EXT_MAC,
        ROUTER_MAC,
        ip("198.18.0.254"),
        vip(),
        1,
        &icmp_error(3, 3, &reply_we_sent[14..]),
    );
    // The real's side says our forwarded packet (client:40000 -> real1:80) could not be delivered.
    let fwd_we_sent = ipv4(
        REAL1_MAC,
        INT_MAC,
        client(),
        ip("198.19.0.11"),
        6,
        &tcp(40000, 80, 0x02, b""),
    );
    let err_out = ipv4(
        INT_MAC,
        REAL1_MAC,
        ip("198.19.0.11"),
        client(),
        1,
        &icmp_error(3, 4, &fwd_we_sent[14..]),
    );
    let r = replay(
        &config("nat", ""),
        &[(1, syn), (2, err_in)],
        &[(3, err_out)],
    );
    assert_eq!(
        r.int.len(),
        2,
        "SYN and the translated error:\n{}",
        r.summary
    );
    let e = seen(&r.int[1]);
    assert_eq!((e.proto, e.dst), (1, ip("198.19.0.11")), "to the real");
    assert!(e.ip_ok && e.l4_ok);
    let quoted_src = std::net::Ipv4Addr::new(e.l3[40], e.l3[41], e.l3[42], e.l3[43]);
    assert_eq!(
        quoted_src,
        ip("198.19.0.11"),
        "quoted source is the real now"
    );
    assert_eq!(u16::from_be_bytes([e.l3[48], e.l3[49]]), 80);
    assert_eq!(r.ext.len(), 1, "{}", r.summary);
    let o = seen(&r.ext[0]);
    assert_eq!(
        (o.proto, o.src, o.dst),
        (1, vip(), client()),
        "to the client, from the VIP"
    );
    assert!(o.ip_ok && o.l4_ok);
    let quoted_dst = std::net::Ipv4Addr::new(o.l3[44], o.l3[45], o.l3[46], o.l3[47]);
    assert_eq!(quoted_dst, vip(), "quoted destination is the VIP now");
    assert_eq!(
        counter(&r.summary, "icmp_errors_translated"),
        2,
        "{}",
        r.summary
    );
}

#[test]
fn dr_rewrites_only_macs() {
    let syn = ipv4(
        EXT_MAC,
        ROUTER_MAC,
        client(),
        vip(),
        6,
        &tcp(40000, 80, 0x02, b""),
    );
    let r = replay(&config("dr", ""), &[(1, syn.clone())], &[]);
    assert_eq!(r.int.len(), 1, "{}", r.summary);
    let f = &r.int[0];
    assert_eq!(&f[0..6], &REAL1_MAC);
    assert_eq!(&f[6..12], &INT_MAC);
    assert_eq!(&f[12..], &syn[12..], "IP packet untouched (TTL too)");
    assert_eq!(counter(&r.summary, "dr_in"), 1, "{}", r.summary);
}

#[test]
fn tun_encapsulates_and_sends_frag_needed_when_too_big() {
    let syn = ipv4(
        EXT_MAC,
        ROUTER_MAC,
        client(),
        vip(),
        6,
        &tcp(40000, 80, 0x02, b""),
    );
    let big = ipv4(
        EXT_MAC,
        ROUTER_MAC,
        client(),
        vip(),
        6,
        &tcp(40000, 80, 0x10, &[0x55; 1460]),
    );
    let r = replay(
        &config("tun", ""),
        &[(1, syn.clone()), (1, big.clone())],
        &[],
    );
    assert_eq!(r.int.len(), 1, "{}", r.summary);
    let o = seen(&r.int[0]);
    assert_eq!((o.dst_mac, o.src_mac), (REAL1_MAC, INT_MAC));
    assert_eq!(
        (o.src, o.dst, o.proto, o.ttl),
        (ip("198.19.0.1"), ip("198.19.0.11"), 4, 64)
    );
    assert!(o.ip_ok);
    assert_eq!(
        &o.l3[20..],
        &syn[14..14 + o.l3.len() - 20],
        "inner packet untouched"
    );
    // 1500-byte inner packet with DF: ICMP fragmentation needed back to the client.
    assert_eq!(r.ext.len(), 1, "{}", r.summary);
    let e = seen(&r.ext[0]);
    assert_eq!((e.proto, e.src, e.dst), (1, ip("198.18.0.1"), client()));
    assert_eq!((e.l3[20], e.l3[21]), (3, 4), "type 3 code 4");
    assert_eq!(
        u16::from_be_bytes([e.l3[26], e.l3[27]]),
        1480,
        "next-hop MTU leaves room for IPIP"
    );
    assert!(e.ip_ok && e.l4_ok);
    assert_eq!(e.dst_mac, ROUTER_MAC, "back to where it came from");
    assert_eq!(counter(&r.summary, "frag_needed_sent"), 1, "{}", r.summary);
}

#[test]
fn wrr_alternates_between_equal_reals() {
    let cfg = config("nat", "").replace("scheduler: rr\n    forward: nat\n    reals: [{ip: 198.19.0.11}, {ip: 198.19.0.12}]\n  - name: dns", "scheduler: wrr\n    forward: nat\n    reals: [{ip: 198.19.0.11}, {ip: 198.19.0.12}]\n  - name: dns");
    assert!(cfg.contains("scheduler: wrr"));
    let syns: Vec<(u64, Vec<u8>)> = (0..6)
        .map(|i| {
            (
                1,
                ipv4(
                    EXT_MAC,
                    ROUTER_MAC,
                    client(),
                    vip(),
                    6,
                    &tcp(41000 + i, 80, 0x02, b""),
                ),
            )
        })
        .collect();
    let r = replay(&cfg, &syns, &[]);
    let dst: Vec<_> = r.int.iter().map(|f| seen(f).dst.octets()[3]).collect();
    assert_eq!(dst, vec![11, 12, 11, 12, 11, 12], "{}", r.summary);
}

#[test]
fn four_workers_on_a_single_queue_hand_off_and_forward_everything() {
    let cfg = config("nat", "")
        .replace("lcores: \"0-1\"", "lcores: \"0@0,1@1,2@0,3@1,4@0\"")
        .replace("cores: [1]", "cores: [1, 2, 3, 4]");
    let syns: Vec<(u64, Vec<u8>)> = (0..64)
        .map(|i| {
            (
                1,
                ipv4(
                    EXT_MAC,
                    ROUTER_MAC,
                    client(),
                    vip(),
                    6,
                    &tcp(42000 + i, 80, 0x02, b""),
                ),
            )
        })
        .collect();
    let r = replay(&cfg, &syns, &[]);
    assert_eq!(r.int.len(), 64, "{}", r.summary);
    let mut ports: Vec<u16> = r.int.iter().map(|f| seen(f).sport).collect();
    ports.sort();
    assert_eq!(
        ports,
        (42000..42064).collect::<Vec<_>>(),
        "every connection forwarded once"
    );
    assert!(r.int.iter().all(|f| {
        let s = seen(f);
        s.ip_ok
            && s.l4_ok
            && s.dport == 80
            && (s.dst == ip("198.19.0.11") || s.dst == ip("198.19.0.12"))
    }));
    // Worker 0 polls the only queue; the other three got their flows by handoff.
    for w in 1..4 {
        let line = r
            .summary
            .lines()
            .find(|l| l.starts_with(&format!("worker {w} ")))
            .unwrap();
        assert!(
            line.contains("handoff_in"),
            "worker {w} received nothing: {line}"
        );
    }
}

#[test]
fn packet_waits_for_arp_resolution_of_its_next_hop() {
    // No static neighbour for the reals: the SYN waits while the management thread asks; the
    // real's ARP reply (learned by the worker that receives it) releases it.
    let cfg = config("nat", "")
        .replace("  - {ip: 198.19.0.11, mac: \"02:00:00:00:02:11\"}\n", "")
        .replace("  - {ip: 198.19.0.12, mac: \"02:00:00:00:02:12\"}\n", "");
    let syn = ipv4(
        EXT_MAC,
        ROUTER_MAC,
        client(),
        vip(),
        6,
        &tcp(40000, 80, 0x02, b""),
    );
    let mut reply = arp_request(REAL1_MAC, ip("198.19.0.11"), ip("198.19.0.1"));
    reply[0..6].copy_from_slice(&INT_MAC);
    reply[21] = 2; // op: reply
    reply[32..38].copy_from_slice(&INT_MAC);
    let r = replay(&cfg, &[(1, syn)], &[(1, reply)]);
    let fwd: Vec<_> = r.int.iter().filter(|f| f[12..14] == [8, 0]).collect();
    assert_eq!(fwd.len(), 1, "{}", r.summary);
    let s = seen(fwd[0]);
    assert_eq!((s.dst, s.dst_mac), (ip("198.19.0.11"), REAL1_MAC));
    assert_eq!(counter(&r.summary, "drop_no_neighbour"), 0, "{}", r.summary);
}

/// Counter `name` of the worker lines of a summary, summed over workers.
fn counter(summary: &str, name: &str) -> u64 {
    summary_counter(summary, "worker ", name)
}

#[test]
fn garbage_and_mangled_frames_are_dropped_and_every_packet_is_accounted_for() {
    // Valid frames of every kind the engine handles, cut short or with bytes flipped, plus
    // random bytes. The appliance must survive, and every received packet must end up sent or
    // counted as a drop.
    let good = [
        arp_request(CLIENT_MAC, client(), vip()),
        ipv4(EXT_MAC, CLIENT_MAC, client(), vip(), 1, &icmp_echo(7, 1)),
        ipv4(
            EXT_MAC,
            ROUTER_MAC,
            client(),
            vip(),
            6,
            &tcp(40000, 80, 0x02, b""),
        ),
        ipv4(
            EXT_MAC,
            ROUTER_MAC,
            client(),
            vip(),
            17,
            &udp(5353, 53, b"query"),
        ),
        ipv4(
            EXT_MAC,
            ROUTER_MAC,
            client(),
            vip(),
            1,
            &icmp_error(3, 3, &[0x45; 40]),
        ),
    ];
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut frames = Vec::new();
    for i in 0..3000u64 {
        let mut f = good[(i % good.len() as u64) as usize].clone();
        match rnd() % 4 {
            0 => f.truncate((rnd() % f.len() as u64) as usize + 1),
            1 => {
                for _ in 0..1 + rnd() % 4 {
                    let at = 12 + (rnd() % (f.len() as u64 - 12)) as usize;
                    f[at] = rnd() as u8;
                }
            }
            2 => f = (0..(rnd() % 200 + 1)).map(|_| rnd() as u8).collect(),
            _ => {}
        }
        frames.push((1 + i / 100, f));
    }
    let r = replay(&config("nat", ""), &frames, &[]);
    let rx = counter(&r.summary, "rx");
    // Every counter of the drops family, as declared (worker/counters.rs).
    let dropped: u64 = Counter::ALL
        .iter()
        .filter(|c| matches!(c.family(), Family::Drops(_)))
        .map(|c| counter(&r.summary, c.name()))
        .sum();
    let accounted = counter(&r.summary, "tx") + dropped;
    let from_mgmt = counter(&r.summary, "from_kernel");
    assert_eq!(rx, 3000, "{}", r.summary);
    assert_eq!(
        accounted,
        rx + from_mgmt,
        "every packet sent or counted:\n{}",
        r.summary
    );
    assert!(counter(&r.summary, "drop_malformed") > 100, "{}", r.summary);
}

/// A UDP service on VIP:5353 whose real listens on 53: NAT changes the port too.
const DNS_ALT: &str = "  - name: dns-alt
    vip: 198.18.0.100
    port: 5353
    protocol: udp
    forward: nat
    reals: [{ip: 198.19.0.11, port: 53}]
";

#[test]
fn nat_forwards_fragments_without_reassembly() {
    let payload: Vec<u8> = (0..2992u32).map(|i| (i * 7) as u8).collect();
    let frags = udp_fragments(
        EXT_MAC,
        ROUTER_MAC,
        client(),
        vip(),
        40000,
        5353,
        &payload,
        0x4242,
        1480,
    );
    assert_eq!(frags.len(), 3);
    let ins: Vec<_> = frags.into_iter().map(|f| (1, f)).collect();
    let r = replay(&config("nat", DNS_ALT), &ins, &[]);
    assert_eq!(r.int.len(), 3, "{}", r.summary);
    let out: Vec<Seen> = r.int.iter().map(|f| seen(f)).collect();
    for s in &out {
        assert_eq!((s.src, s.dst, s.proto), (client(), ip("198.19.0.11"), 17));
        assert_eq!((s.dst_mac, s.src_mac), (REAL1_MAC, INT_MAC));
        assert!(s.ip_ok, "IP checksum");
        assert_eq!(s.ttl, 63);
        assert_eq!(frag_of(s).0, 0x4242, "identification kept");
    }
    let first = out.iter().find(|s| frag_of(s).1 == 0).unwrap();
    assert_eq!((first.sport, first.dport), (40000, 53), "port rewritten");
    let l4 = reassemble(&out);
    assert_eq!(l4.len(), 3000);
    assert_eq!(&l4[8..], &payload[..]);
    assert_eq!(
        dataplane::wire::checksum::l4_checksum_v4(client(), ip("198.19.0.11"), 17, &l4),
        0,
        "the reassembled datagram verifies against the real's address"
    );
    assert_eq!(
        counter(&r.summary, "fragments_forwarded"),
        3,
        "{}",
        r.summary
    );
    assert_eq!(counter(&r.summary, "nat_in"), 3, "{}", r.summary);
    assert_eq!(counter(&r.summary, "drop_fragment"), 0, "{}", r.summary);
}

#[test]
fn nat_reply_fragments_leave_from_the_vip() {
    let query = ipv4(
        EXT_MAC,
        ROUTER_MAC,
        client(),
        vip(),
        17,
        &udp(40000, 5353, b"query"),
    );
    let answer: Vec<u8> = (0..2000u32).map(|i| (i * 13) as u8).collect();
    let reply = udp_fragments(
        INT_MAC,
        REAL1_MAC,
        ip("198.19.0.11"),
        client(),
        53,
        40000,
        &answer,
        0x0777,
        1480,
    );
    assert_eq!(reply.len(), 2);
    let r = replay(
        &config("nat", DNS_ALT),
        &[(1, query)],
        &reply.into_iter().map(|f| (2, f)).collect::<Vec<_>>(),
    );
    assert_eq!(r.int.len(), 1, "{}", r.summary);
    assert_eq!(r.ext.len(), 2, "{}", r.summary);
    let out: Vec<Seen> = r.ext.iter().map(|f| seen(f)).collect();
    for s in &out {
        assert_eq!((s.src, s.dst), (vip(), client()));
        assert_eq!((s.dst_mac, s.src_mac), (CLIENT_MAC, EXT_MAC));
        assert!(s.ip_ok && s.ttl == 63);
    }
    let first = out.iter().find(|s| frag_of(s).1 == 0).unwrap();
    assert_eq!(
        (first.sport, first.dport),
        (5353, 40000),
        "source port is the VIP's"
    );
    let l4 = reassemble(&out);
    assert_eq!(&l4[8..], &answer[..]);
    assert_eq!(
        dataplane::wire::checksum::l4_checksum_v4(vip(), client(), 17, &l4),
        0
    );
    assert_eq!(
        counter(&r.summary, "fragments_forwarded"),
        2,
        "{}",
        r.summary
    );
}

#[test]
fn fragment_before_its_first_is_dropped_and_counted() {
    let frags = udp_fragments(
        EXT_MAC,
        ROUTER_MAC,
        client(),
        vip(),
        40000,
        53,
        &[0x33; 2992],
        0x1111,
        1480,
    );
    // Second, first, third: the second has nothing to follow yet.
    let ins = vec![
        (1, frags[1].clone()),
        (1, frags[0].clone()),
        (1, frags[2].clone()),
    ];
    let r = replay(&config("nat", ""), &ins, &[]);
    assert_eq!(r.int.len(), 2, "{}", r.summary);
    let offs: Vec<usize> = r.int.iter().map(|f| frag_of(&seen(f)).1).collect();
    assert_eq!(offs, vec![0, 2960]);
    assert_eq!(
        counter(&r.summary, "drop_fragment_unmatched"),
        1,
        "{}",
        r.summary
    );
    assert_eq!(
        counter(&r.summary, "fragments_forwarded"),
        2,
        "{}",
        r.summary
    );
}

#[test]
fn icmp_fragments_to_a_vip_are_still_dropped() {
    let mut f = ipv4(EXT_MAC, CLIENT_MAC, client(), vip(), 1, &icmp_echo(7, 1));
    f[14 + 6] = 0x20; // MF
    f[14 + 10] = 0;
    f[14 + 11] = 0;
    let c = dataplane::wire::checksum::checksum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    let r = replay(&config("nat", ""), &[(1, f)], &[]);
    assert!(r.ext.is_empty() && r.int.is_empty(), "{}", r.summary);
    assert_eq!(counter(&r.summary, "drop_fragment"), 1, "{}", r.summary);
}

#[test]
fn dr_forwards_fragments_with_only_macs_changed() {
    let frags = udp_fragments(
        EXT_MAC,
        ROUTER_MAC,
        client(),
        vip(),
        40000,
        53,
        &[0x44; 2992],
        0x2222,
        1480,
    );
    let ins: Vec<_> = frags.iter().cloned().map(|f| (1, f)).collect();
    let r = replay(&config("dr", ""), &ins, &[]);
    assert_eq!(r.int.len(), 3, "{}", r.summary);
    for (o, i) in r.int.iter().zip(&frags) {
        assert_eq!(&o[0..6], &REAL1_MAC);
        assert_eq!(&o[6..12], &INT_MAC);
        assert_eq!(&o[12..], &i[12..], "IP packet untouched");
    }
    assert_eq!(counter(&r.summary, "dr_in"), 3, "{}", r.summary);
    assert_eq!(
        counter(&r.summary, "fragments_forwarded"),
        3,
        "{}",
        r.summary
    );
}

#[test]
fn four_workers_forward_fragments_of_many_datagrams() {
    let cfg = config("nat", "")
        .replace("lcores: \"0-1\"", "lcores: \"0@0,1@1,2@0,3@1,4@0\"")
        .replace("cores: [1]", "cores: [1, 2, 3, 4]");
    assert!(cfg.contains("cores: [1, 2, 3, 4]"));
    let mut ins = Vec::new();
    for i in 0..16u16 {
        let payload = vec![i as u8; 2992];
        for f in udp_fragments(
            EXT_MAC,
            ROUTER_MAC,
            client(),
            vip(),
            43000 + i,
            53,
            &payload,
            0x5000 + i,
            1480,
        ) {
            ins.push((1, f));
        }
    }
    let r = replay(&cfg, &ins, &[]);
    assert_eq!(r.int.len(), 48, "{}", r.summary);
    let out: Vec<Seen> = r.int.iter().map(|f| seen(f)).collect();
    for i in 0..16u16 {
        let mine: Vec<Seen> = out
            .iter()
            .filter(|s| frag_of(s).0 == 0x5000 + i)
            .cloned()
            .collect();
        assert_eq!(mine.len(), 3, "datagram {i}");
        let real = mine[0].dst;
        assert!(real == ip("198.19.0.11") || real == ip("198.19.0.12"));
        assert!(mine.iter().all(|s| s.dst == real && s.ip_ok), "one real");
        let l4 = reassemble(&mine);
        assert_eq!(u16::from_be_bytes([l4[0], l4[1]]), 43000 + i);
        assert_eq!(
            dataplane::wire::checksum::l4_checksum_v4(client(), real, 17, &l4),
            0
        );
    }
    assert_eq!(
        counter(&r.summary, "fragments_forwarded"),
        48,
        "{}",
        r.summary
    );
    assert!(counter(&r.summary, "handoff_in") > 0, "{}", r.summary);
}

#[test]
fn tun_encapsulates_fragments_and_drops_those_too_big() {
    // 1000-byte fragments fit once encapsulated; a 1480-byte one (1500 inner) does not, and a
    // fragment has no DF, so it is dropped rather than answered.
    let small = udp_fragments(
        EXT_MAC,
        ROUTER_MAC,
        client(),
        vip(),
        40000,
        53,
        &[0x66; 1592],
        0x3333,
        1000,
    );
    let big = udp_fragments(
        EXT_MAC,
        ROUTER_MAC,
        client(),
        vip(),
        40000,
        53,
        &[0x77; 2992],
        0x3334,
        1480,
    );
    let mut ins: Vec<_> = small.iter().cloned().map(|f| (1, f)).collect();
    ins.extend(big.iter().cloned().map(|f| (2, f)));
    let r = replay(&config("tun", ""), &ins, &[]);
    // Both small fragments, and the big datagram's short last fragment.
    assert_eq!(r.int.len(), 3, "{}", r.summary);
    for (o, i) in r.int[..2].iter().zip(&small) {
        let s = seen(o);
        assert_eq!(
            (s.src, s.dst, s.proto),
            (ip("198.19.0.1"), ip("198.19.0.11"), 4)
        );
        assert!(s.ip_ok);
        let inner_len = usize::from(u16::from_be_bytes([i[16], i[17]]));
        assert_eq!(
            &s.l3[20..],
            &i[14..14 + inner_len],
            "inner fragment untouched"
        );
    }
    assert_eq!(counter(&r.summary, "drop_too_big"), 2, "{}", r.summary);
    assert_eq!(counter(&r.summary, "frag_needed_sent"), 0, "{}", r.summary);
    assert_eq!(
        counter(&r.summary, "fragments_forwarded"),
        3,
        "{}",
        r.summary
    );
}
