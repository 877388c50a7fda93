//! The engine's IPv6 forwarding decisions without EAL (issue 11), in the style of
//! engine_fixtures.rs: (dual-stack config, input frames on ports) -> (the frames each port
//! sends, every counter that moved). NAT66 both ways with checksums compared against frames
//! built from scratch, DR MACs, TUN6 encapsulation and Packet Too Big, neighbour discovery,
//! echo, ICMPv6 errors translated, fragments, malformed IPv6, and flows handed between workers.
mod common;
use common::packets::{tcp, udp};
use common::packets6::*;
use dataplane::worker::engine::sim::Sim;
use std::collections::BTreeMap;
use std::net::Ipv6Addr;

const SYN: u8 = 0x02;
const SYN_ACK: u8 = 0x12;

fn sim(workers: usize) -> Sim {
    Sim::new(&config6(), workers, false).expect("config6")
}

fn rx(sim: &mut Sim, port: &str, frame: &[u8]) {
    let p = sim.port(port);
    sim.rx(0, p, frame);
}

fn sent(sim: &mut Sim, port: &str) -> Vec<Vec<u8>> {
    let p = sim.port(port);
    sim.take_sent(p)
}

fn counters(sim: &Sim, want: &[(&str, u64)]) {
    let want: BTreeMap<&str, u64> = want.iter().copied().collect();
    assert_eq!(sim.nonzero_counters(), want);
}

/// The client's SYN to web6, as it arrives from the router.
fn syn(sport: u16) -> Vec<u8> {
    ip6(
        EXT_MAC,
        ROUTER_MAC,
        client6(),
        vip6(),
        64,
        6,
        &tcp(sport, 80, SYN, b""),
    )
}

#[test]
fn nat66_syn_and_reply_are_translated_with_valid_checksums() {
    let mut s = sim(1);
    rx(&mut s, "ext", &syn(40000));
    rx(&mut s, "ext", &syn(40001));
    // rr: the first connection to real1, the second to real2; hop limit 63; checksums as if
    // built for the new addresses.
    let to_real = |real: Ipv6Addr, mac, sport| {
        ip6(
            mac,
            INT_MAC,
            client6(),
            real,
            63,
            6,
            &tcp(sport, 80, SYN, b""),
        )
    };
    assert_eq!(
        sent(&mut s, "int"),
        [
            to_real(real1_6(), REAL1_MAC, 40000),
            to_real(real2_6(), REAL2_MAC, 40001)
        ]
    );
    // The real's SYN-ACK goes back to the client from the VIP, by the router.
    let reply = ip6(
        INT_MAC,
        REAL1_MAC,
        real1_6(),
        client6(),
        64,
        6,
        &tcp(80, 40000, SYN_ACK, b""),
    );
    rx(&mut s, "int", &reply);
    let want = ip6(
        ROUTER_MAC,
        EXT_MAC,
        vip6(),
        client6(),
        63,
        6,
        &tcp(80, 40000, SYN_ACK, b""),
    );
    let out = sent(&mut s, "ext");
    assert_eq!(out, [want]);
    assert!(checksum6_ok(&out[0]));
    // A second packet of the first connection finds it (no new connection).
    rx(
        &mut s,
        "ext",
        &ip6(
            EXT_MAC,
            ROUTER_MAC,
            client6(),
            vip6(),
            64,
            6,
            &tcp(40000, 80, 0x10, b"GET"),
        ),
    );
    assert_eq!(
        sent(&mut s, "int"),
        [ip6(
            REAL1_MAC,
            INT_MAC,
            client6(),
            real1_6(),
            63,
            6,
            &tcp(40000, 80, 0x10, b"GET")
        )]
    );
    counters(
        &s,
        &[
            ("rx", 4),
            ("tx", 4),
            ("conn_new", 2),
            ("nat_in", 3),
            ("nat_out", 1),
        ],
    );
}

#[test]
fn nat66_udp_changes_the_port_and_dr_only_the_macs() {
    let mut s = sim(1);
    let q = |dport| {
        ip6(
            EXT_MAC,
            ROUTER_MAC,
            client6(),
            vip6(),
            64,
            17,
            &udp(5000, dport, b"query"),
        )
    };
    rx(&mut s, "ext", &q(5353));
    rx(&mut s, "ext", &q(53));
    let mut dr = q(53);
    dr[..6].copy_from_slice(&REAL1_MAC);
    dr[6..12].copy_from_slice(&INT_MAC);
    assert_eq!(
        sent(&mut s, "int"),
        [
            ip6(
                REAL1_MAC,
                INT_MAC,
                client6(),
                real1_6(),
                63,
                17,
                &udp(5000, 53, b"query")
            ),
            dr
        ]
    );
    let answer = ip6(
        INT_MAC,
        REAL1_MAC,
        real1_6(),
        client6(),
        64,
        17,
        &udp(53, 5000, b"answer"),
    );
    rx(&mut s, "int", &answer);
    assert_eq!(
        sent(&mut s, "ext"),
        [ip6(
            ROUTER_MAC,
            EXT_MAC,
            vip6(),
            client6(),
            63,
            17,
            &udp(5353, 5000, b"answer")
        )]
    );
    counters(
        &s,
        &[
            ("rx", 3),
            ("tx", 3),
            ("conn_new", 2),
            ("nat_in", 1),
            ("dr_in", 1),
            ("nat_out", 1),
        ],
    );
}

#[test]
fn tun6_encapsulates_and_answers_packet_too_big_with_the_tunnel_mtu() {
    let mut s = sim(1);
    let inner = ip6(
        EXT_MAC,
        ROUTER_MAC,
        client6(),
        tun_vip6(),
        64,
        6,
        &tcp(40000, 80, SYN, b""),
    );
    rx(&mut s, "ext", &inner);
    let out = sent(&mut s, "int");
    assert_eq!(out.len(), 1);
    let f = &out[0];
    assert_eq!((&f[..6], &f[6..12]), (&REAL2_MAC[..], &INT_MAC[..]));
    let outer = seen6(f);
    assert_eq!(
        (outer.src, outer.dst, outer.hops, outer.proto),
        (int6(), real2_6(), 64, 41)
    );
    assert_eq!(
        u16::from_be_bytes([f[18], f[19]]) as usize,
        inner.len() - 14
    );
    assert_ne!(
        u32::from_be_bytes([0, f[15] & 0xf, f[16], f[17]]),
        0,
        "flow label set"
    );
    assert_eq!(&f[54..], &inner[14..], "the inner packet unchanged");
    // 1461 bytes of IPv6 packet: 1501 once encapsulated, over the port's 1500.
    let big = ip6(
        EXT_MAC,
        ROUTER_MAC,
        client6(),
        tun_vip6(),
        64,
        6,
        &tcp(40000, 80, 0x10, &[0xab; 1461 - 40 - 20]),
    );
    rx(&mut s, "ext", &big);
    assert!(sent(&mut s, "int").is_empty());
    let ptb = sent(&mut s, "ext");
    assert_eq!(ptb.len(), 1);
    let p = &ptb[0];
    let h = seen6(p);
    assert_eq!((&p[..6], &p[6..12]), (&ROUTER_MAC[..], &EXT_MAC[..]));
    assert_eq!((h.src, h.dst, h.proto), (tun_vip6(), client6(), 58));
    assert_eq!(p[54], 2, "Packet Too Big");
    assert_eq!(u32::from_be_bytes([p[58], p[59], p[60], p[61]]), 1460);
    assert_eq!(&p[62..62 + 40], &big[14..54], "quotes the packet");
    assert!(checksum6_ok(p));
    counters(
        &s,
        &[
            ("rx", 2),
            ("tx", 2),
            ("conn_new", 1),
            ("tun_in", 1),
            ("packet_too_big_sent", 1),
        ],
    );
}

#[test]
fn neighbour_solicitations_for_the_vip_and_our_address_are_answered_and_senders_learned() {
    let mut s = sim(1);
    rx(
        &mut s,
        "ext",
        &neighbor_solicit(ROUTER_MAC, router6(), vip6()),
    );
    rx(
        &mut s,
        "ext",
        &neighbor_solicit(ROUTER_MAC, router6(), ext6()),
    );
    // Another host's address: not ours to answer (the kernel's, and this port has none).
    rx(
        &mut s,
        "ext",
        &neighbor_solicit(ROUTER_MAC, router6(), v6("2001:db8::77")),
    );
    let out = sent(&mut s, "ext");
    assert_eq!(out.len(), 2);
    for (f, target) in out.iter().zip([vip6(), ext6()]) {
        assert_eq!((&f[..6], &f[6..12]), (&ROUTER_MAC[..], &EXT_MAC[..]));
        let h = seen6(f);
        assert_eq!(
            (h.src, h.dst, h.hops, h.proto),
            (target, router6(), 255, 58)
        );
        assert_eq!(f[54], 136, "Neighbor Advertisement");
        assert_eq!(f[58] & 0xe0, 0x60, "solicited, override");
        assert_eq!(&f[62..78], &target.octets());
        assert_eq!(&f[78..80], &[2, 1], "target link-layer option");
        assert_eq!(&f[80..86], &EXT_MAC);
        assert!(checksum6_ok(f));
    }
    let learned = s.take_events6();
    assert_eq!(learned.len(), 3);
    assert!(learned.iter().all(|e| *e
        == dataplane::lb::neigh::NeighEvent::Learned {
            port: 0,
            ip: router6(),
            mac: ROUTER_MAC
        }));
    // A solicitation with a hop limit other than 255 did not come from the link.
    let mut forged = neighbor_solicit(ROUTER_MAC, router6(), vip6());
    forged[21] = 64;
    rx(&mut s, "ext", &forged);
    counters(
        &s,
        &[
            ("rx", 4),
            ("tx", 2),
            ("nd_answered", 2),
            ("drop_no_exception", 1),
            ("drop_malformed", 1),
        ],
    );
}

#[test]
fn echo_to_the_vip_and_our_address_is_answered() {
    let mut s = sim(1);
    for dst in [vip6(), int6()] {
        rx(
            &mut s,
            "ext",
            &ip6(EXT_MAC, ROUTER_MAC, client6(), dst, 64, 58, &echo6(7, 1)),
        );
    }
    let mut reply = echo6(7, 1);
    reply[0] = 129;
    assert_eq!(
        sent(&mut s, "ext"),
        [
            ip6(ROUTER_MAC, EXT_MAC, vip6(), client6(), 64, 58, &reply),
            ip6(ROUTER_MAC, EXT_MAC, int6(), client6(), 64, 58, &reply)
        ]
    );
    counters(&s, &[("rx", 2), ("tx", 2), ("echo_replies", 2)]);
}

#[test]
fn icmp6_errors_quoting_a_nat66_connection_are_translated_both_ways() {
    let mut s = sim(1);
    rx(&mut s, "ext", &syn(40000));
    let forwarded = sent(&mut s, "int").remove(0);
    // The real's side: port unreachable about the forwarded SYN, to the client.
    let err = icmp6_error(1, 4, [0; 4], &forwarded[14..]);
    rx(
        &mut s,
        "int",
        &ip6(INT_MAC, REAL1_MAC, real1_6(), client6(), 64, 58, &err),
    );
    let out = sent(&mut s, "ext");
    assert_eq!(out.len(), 1);
    let f = &out[0];
    let h = seen6(f);
    assert_eq!((h.src, h.dst, h.hops), (vip6(), client6(), 63));
    assert!(checksum6_ok(f));
    let quoted = &f[62..];
    assert_eq!(&quoted[8..24], &client6().octets());
    assert_eq!(&quoted[24..40], &vip6().octets(), "the quote names the VIP");
    assert_eq!(&quoted[42..44], &80u16.to_be_bytes());
    // The client's side: an error about a reply we sent (VIP:80 -> client), to the real.
    let reply = ip6(
        ROUTER_MAC,
        EXT_MAC,
        vip6(),
        client6(),
        63,
        6,
        &tcp(80, 40000, SYN_ACK, b""),
    );
    let err = icmp6_error(2, 0, 1280u32.to_be_bytes(), &reply[14..]);
    rx(
        &mut s,
        "ext",
        &ip6(EXT_MAC, ROUTER_MAC, router6(), vip6(), 64, 58, &err),
    );
    let out = sent(&mut s, "int");
    assert_eq!(out.len(), 1);
    let h = seen6(&out[0]);
    assert_eq!((h.src, h.dst), (router6(), real1_6()));
    assert!(checksum6_ok(&out[0]));
    assert_eq!(
        &out[0][62 + 8..62 + 24],
        &real1_6().octets(),
        "the quote names the real"
    );
    // An error about no connection.
    let stray = icmp6_error(1, 4, [0; 4], &syn(1)[14..]);
    rx(
        &mut s,
        "ext",
        &ip6(EXT_MAC, ROUTER_MAC, router6(), vip6(), 64, 58, &stray),
    );
    counters(
        &s,
        &[
            ("rx", 4),
            ("tx", 3),
            ("conn_new", 1),
            ("nat_in", 1),
            ("icmp_errors_translated", 2),
            ("drop_no_conn", 1),
        ],
    );
}

/// A Fragment header: next header `next`, offset (bytes, a multiple of 8), M flag, ident.
fn frag_header(next: u8, offset: u16, more: bool, ident: u32) -> Vec<u8> {
    let mut h = vec![next, 0];
    h.extend_from_slice(&(offset | u16::from(more)).to_be_bytes());
    h.extend_from_slice(&ident.to_be_bytes());
    h
}

#[test]
fn fragments_follow_their_first_fragments_decision() {
    let mut s = sim(1);
    // One UDP datagram to dns6 (5353 -> real1:53) in two fragments; its checksum covers both.
    let whole = udp(5000, 5353, &[0x5a; 24]);
    let whole = {
        let f = ip6(EXT_MAC, ROUTER_MAC, client6(), vip6(), 64, 17, &whole);
        f[54..].to_vec()
    };
    let first = raw6(
        EXT_MAC,
        ROUTER_MAC,
        client6(),
        vip6(),
        64,
        44,
        &frag_header(17, 0, true, 9),
        &whole[..16],
    );
    let later = raw6(
        EXT_MAC,
        ROUTER_MAC,
        client6(),
        vip6(),
        64,
        44,
        &frag_header(17, 16, false, 9),
        &whole[16..],
    );
    rx(&mut s, "ext", &first);
    rx(&mut s, "ext", &later);
    // A later fragment of a datagram whose first never came.
    let orphan = raw6(
        EXT_MAC,
        ROUTER_MAC,
        client6(),
        vip6(),
        64,
        44,
        &frag_header(17, 16, false, 10),
        &whole[16..],
    );
    rx(&mut s, "ext", &orphan);
    let out = sent(&mut s, "int");
    assert_eq!(out.len(), 2);
    for f in &out {
        let h = seen6(f);
        assert_eq!(
            (h.src, h.dst, h.hops, h.proto),
            (client6(), real1_6(), 63, 17)
        );
        assert_eq!(&f[..6], &REAL1_MAC);
    }
    // Reassembled, the datagram is the one built for the real: port 53, checksum valid.
    let mut datagram = out[0][62..].to_vec();
    datagram.extend_from_slice(&out[1][62..]);
    let want = ip6(
        REAL1_MAC,
        INT_MAC,
        client6(),
        real1_6(),
        63,
        17,
        &udp(5000, 53, &[0x5a; 24]),
    );
    assert_eq!(datagram, want[54..]);
    counters(
        &s,
        &[
            ("rx", 3),
            ("tx", 2),
            ("conn_new", 1),
            ("nat_in", 2),
            ("fragments_forwarded", 2),
            ("drop_fragment_unmatched", 1),
        ],
    );
}

#[test]
fn malformed_ipv6_is_dropped_and_counted() {
    let mut s = sim(1);
    let good = syn(40000);
    // Payload length past the frame's end.
    let mut long = good.clone();
    long[18..20].copy_from_slice(&200u16.to_be_bytes());
    rx(&mut s, "ext", &long);
    // A header cut short.
    rx(&mut s, "ext", &good[..14 + 30]);
    // A TCP header cut short (payload length says 10 bytes).
    let cut = raw6(EXT_MAC, ROUTER_MAC, client6(), vip6(), 64, 6, &[], &[0; 10]);
    rx(&mut s, "ext", &cut);
    // Extension headers: a looping chain (destination options a third time), a Hop-by-Hop
    // header not first.
    let dest_opts = |next: u8| vec![next, 0, 1, 4, 0, 0, 0, 0];
    let mut looping = dest_opts(60);
    looping.extend_from_slice(&dest_opts(60));
    looping.extend_from_slice(&dest_opts(6));
    let l4 = tcp(40000, 80, SYN, b"");
    rx(
        &mut s,
        "ext",
        &raw6(
            EXT_MAC,
            ROUTER_MAC,
            client6(),
            vip6(),
            64,
            60,
            &looping,
            &l4,
        ),
    );
    let mut hop_late = dest_opts(0);
    hop_late.extend_from_slice(&dest_opts(6));
    rx(
        &mut s,
        "ext",
        &raw6(
            EXT_MAC,
            ROUTER_MAC,
            client6(),
            vip6(),
            64,
            60,
            &hop_late,
            &l4,
        ),
    );
    // Hop limit 1: a router may not forward it (the connection it opened stays, as in IPv4).
    let mut last_hop = good.clone();
    last_hop[21] = 1;
    rx(&mut s, "ext", &last_hop);
    assert!(sent(&mut s, "int").is_empty());
    counters(
        &s,
        &[
            ("rx", 6),
            ("drop_malformed", 5),
            ("conn_new", 1),
            ("drop_ttl", 1),
        ],
    );
}

#[test]
fn flows_are_handed_to_their_owner_worker() {
    let mut s = sim(2);
    // Find a client port owned by worker 1, and send its SYN and the reply to worker 0.
    let sport = (40000..41000)
        .find(|&p| dataplane::lb::flow::owner_worker(client6(), p, 2) == 1)
        .unwrap();
    s.rx(0, 0, &syn(sport));
    let out = sent(&mut s, "int");
    assert_eq!(out.len(), 1);
    let real = seen6(&out[0]).dst;
    let mac = if real == real1_6() {
        REAL1_MAC
    } else {
        REAL2_MAC
    };
    let reply = ip6(
        INT_MAC,
        mac,
        real,
        client6(),
        64,
        6,
        &tcp(80, sport, SYN_ACK, b""),
    );
    s.rx(0, 1, &reply);
    assert_eq!(sent(&mut s, "ext").len(), 1);
    assert_eq!(s.worker_counter(1, "conn_new"), 1);
    assert_eq!(s.worker_counter(0, "handoff_out"), 2);
    assert_eq!(s.worker_counter(1, "handoff_in"), 2);
    assert_eq!(s.worker_counter(1, "nat_out"), 1);
}

#[test]
fn a_next_hop_without_a_mac_waits_for_it_and_is_reported_once() {
    // The router is not a static neighbour here: replies to the client wait for its MAC.
    let cfg = config6().replace(
        "  - {ip: \"2001:db8::fe\", mac: \"02:00:00:00:01:fe\"}\n",
        "",
    );
    let mut s = Sim::new(&cfg, 1, false).unwrap();
    rx(&mut s, "ext", &syn(40000));
    let reply = ip6(
        INT_MAC,
        REAL1_MAC,
        real1_6(),
        client6(),
        64,
        6,
        &tcp(80, 40000, SYN_ACK, b""),
    );
    rx(&mut s, "int", &reply);
    rx(&mut s, "int", &reply);
    assert!(sent(&mut s, "ext").is_empty());
    assert_eq!(s.workers[0].engine.parked(), 2);
    assert_eq!(
        s.take_events6(),
        [dataplane::lb::neigh::NeighEvent::Missing {
            port: 0,
            ip: router6()
        }]
    );
    // The management thread resolves it: the next packet follows the new snapshot and leaves
    // at once, the parked ones in the same loop.
    s.learn6(router6(), ROUTER_MAC).unwrap();
    rx(&mut s, "int", &reply);
    let want = ip6(
        ROUTER_MAC,
        EXT_MAC,
        vip6(),
        client6(),
        63,
        6,
        &tcp(80, 40000, SYN_ACK, b""),
    );
    assert_eq!(sent(&mut s, "ext"), [want.clone(), want.clone(), want]);
    assert_eq!(s.workers[0].engine.parked(), 0);
    counters(
        &s,
        &[
            ("rx", 4),
            ("tx", 4),
            ("conn_new", 1),
            ("nat_in", 1),
            ("nat_out", 3),
        ],
    );
}

#[test]
fn a_next_hop_that_never_answers_drops_its_packets_after_the_wait() {
    let cfg = config6().replace(
        "  - {ip: \"2001:db8::fe\", mac: \"02:00:00:00:01:fe\"}\n",
        "",
    );
    let mut s = Sim::new(&cfg, 1, false).unwrap();
    rx(&mut s, "ext", &syn(40000));
    let reply = ip6(
        INT_MAC,
        REAL1_MAC,
        real1_6(),
        client6(),
        64,
        6,
        &tcp(80, 40000, SYN_ACK, b""),
    );
    rx(&mut s, "int", &reply);
    s.now += dataplane::tunables::PENDING_WAIT_MS;
    s.poll();
    assert_eq!(s.workers[0].engine.parked(), 0);
    counters(
        &s,
        &[
            ("rx", 2),
            ("tx", 1),
            ("conn_new", 1),
            ("nat_in", 1),
            ("nat_out", 1),
            ("drop_no_neighbour", 1),
        ],
    );
}

#[test]
fn nat64_translates_both_ways_through_a_bound_port_of_ours() {
    use common::packets::{ipv4, seen};
    let mut s = sim(1);
    let lb4: std::net::Ipv4Addr = "198.19.0.1".parse().unwrap();
    let real4: std::net::Ipv4Addr = "198.19.0.11".parse().unwrap();
    let syn64 = ip6(
        EXT_MAC,
        ROUTER_MAC,
        client6(),
        vip6(),
        64,
        6,
        &tcp(40000, 8080, SYN, b""),
    );
    rx(&mut s, "ext", &syn64);
    let out = sent(&mut s, "int");
    assert_eq!(out.len(), 1, "{:?}", s.nonzero_counters());
    let v4 = seen(&out[0]);
    assert_eq!((v4.src, v4.dst, v4.dport, v4.ttl), (lb4, real4, 80, 63));
    assert_eq!((v4.dst_mac, v4.src_mac), (REAL1_MAC, INT_MAC));
    assert!(v4.ip_ok && v4.l4_ok, "IPv4 and TCP checksums");
    let lport = v4.sport;
    assert!((1024..32768).contains(&lport), "a NAT64 port: {lport}");
    // The real's answer to our address and port becomes IPv6 from the VIP to the client.
    let answer = ipv4(
        INT_MAC,
        REAL1_MAC,
        real4,
        lb4,
        6,
        &tcp(80, lport, SYN_ACK, b""),
    );
    rx(&mut s, "int", &answer);
    let back = sent(&mut s, "ext");
    let want = ip6(
        ROUTER_MAC,
        EXT_MAC,
        vip6(),
        client6(),
        63,
        6,
        &tcp(8080, 40000, SYN_ACK, b""),
    );
    assert_eq!(back.len(), 1);
    // The IPv4 frame's Ethernet padding (to 60 bytes) stays behind the packet.
    assert_eq!(&back[0][..want.len()], &want[..]);
    assert_eq!(&back[0][want.len()..], &[0; 6]);
    // The same port from another source, or a port no connection holds: the kernel's.
    rx(
        &mut s,
        "int",
        &ipv4(
            INT_MAC,
            REAL2_MAC,
            "198.19.0.12".parse().unwrap(),
            lb4,
            6,
            &tcp(80, lport, SYN_ACK, b""),
        ),
    );
    rx(
        &mut s,
        "int",
        &ipv4(
            INT_MAC,
            REAL1_MAC,
            real4,
            lb4,
            6,
            &tcp(80, lport + 1, SYN_ACK, b""),
        ),
    );
    counters(
        &s,
        &[
            ("rx", 4),
            ("tx", 2),
            ("conn_new", 1),
            ("nat_in", 1),
            ("nat_out", 1),
            ("drop_no_exception", 2),
        ],
    );
}

#[test]
fn a_vrrp_backup_answers_no_nd_for_the_vip_and_forwards_nothing_to_it() {
    let mut s = sim(1);
    s.set_ha_active(false).unwrap();
    rx(
        &mut s,
        "ext",
        &neighbor_solicit(ROUTER_MAC, router6(), vip6()),
    );
    rx(&mut s, "ext", &syn(40000));
    // Its own address is still its own.
    rx(
        &mut s,
        "ext",
        &neighbor_solicit(ROUTER_MAC, router6(), ext6()),
    );
    assert_eq!(sent(&mut s, "ext").len(), 1);
    counters(
        &s,
        &[
            ("rx", 3),
            ("tx", 1),
            ("nd_answered", 1),
            ("drop_ha_backup", 2),
        ],
    );
}

// ---- NAT64: ICMP errors both ways (RFC 7915 4.2, 5.2) and fragments (4.1, 5.1.1) ----

/// The client's SYN to web64 (the IPv6 VIP's port 8080, over the IPv4 real's port 80).
fn syn64(sport: u16) -> Vec<u8> {
    ip6(
        EXT_MAC,
        ROUTER_MAC,
        client6(),
        vip6(),
        64,
        6,
        &tcp(sport, 8080, SYN, b""),
    )
}

/// Opens a web64 connection from client port 40000; returns the IPv4 packet forwarded to the
/// real (its IP header on, 40 bytes) and the bound port of ours it comes from.
fn open64(s: &mut Sim) -> (Vec<u8>, u16) {
    rx(s, "ext", &syn64(40000));
    let fwd = sent(s, "int").remove(0);
    let lport = u16::from_be_bytes([fwd[34], fwd[35]]);
    assert!((1024..32768).contains(&lport), "a NAT64 port: {lport}");
    (fwd[14..54].to_vec(), lport)
}

#[test]
fn nat64_icmpv4_errors_reach_the_client_as_icmpv6_about_its_own_packet() {
    use common::packets::ipv4;
    use common::packets64::*;
    let mut s = sim(1);
    let (fwd, _) = open64(&mut s);
    // The client's SYN as the translated error quotes it: hop limit the forwarded TTL (63).
    let orig = ip6(
        EXT_MAC,
        ROUTER_MAC,
        client6(),
        vip6(),
        63,
        6,
        &tcp(40000, 8080, SYN, b""),
    );
    // (ICMPv4 type, code, rest) -> (ICMPv6 type, code, rest), RFC 7915 4.2.
    let cases = [
        // Fragmentation needed, next-hop MTU 1400: Packet Too Big 1420 (IPv6's 20 more).
        (
            3u8,
            4u8,
            [0, 0, 0x05, 0x78],
            2u8,
            0u8,
            1420u32.to_be_bytes(),
        ),
        // ... without an MTU (a pre-RFC 1191 router): the IPv6 minimum.
        (3, 4, [0; 4], 2, 0, 1280u32.to_be_bytes()),
        (3, 3, [0; 4], 1, 4, [0; 4]),
        (3, 1, [0; 4], 1, 0, [0; 4]),
        (3, 13, [0; 4], 1, 1, [0; 4]),
        (3, 2, [0; 4], 4, 1, 6u32.to_be_bytes()),
        (11, 0, [0; 4], 3, 0, [0; 4]),
    ];
    // A quote of the IP header and 8 bytes (RFC 792), and one of the whole packet (its TCP
    // checksum then translated too).
    for quote in [28usize, 40] {
        for (t4, c4, r4, t6, c6, r6) in cases {
            let err = icmp4_error(t4, c4, r4, &fwd[..quote]);
            rx(
                &mut s,
                "int",
                &ipv4(INT_MAC, REAL1_MAC, router4(), lb4(), 1, &err),
            );
            let want_err = icmp6_error(t6, c6, r6, &orig[14..14 + 20 + quote]);
            let want = ip6(ROUTER_MAC, EXT_MAC, vip6(), client6(), 63, 58, &want_err);
            assert_eq!(
                sent(&mut s, "ext"),
                [want],
                "type {t4} code {c4}, quote {quote}"
            );
        }
    }
    counters(
        &s,
        &[
            ("rx", 15),
            ("tx", 15),
            ("conn_new", 1),
            ("nat_in", 1),
            ("icmp_errors_translated", 14),
        ],
    );
}

#[test]
fn nat64_icmpv6_errors_from_the_client_reach_the_ipv4_real_about_its_own_reply() {
    use common::packets::ipv4;
    use common::packets64::*;
    let mut s = sim(1);
    let (_, lport) = open64(&mut s);
    let answer = ipv4(
        INT_MAC,
        REAL1_MAC,
        real4(),
        lb4(),
        6,
        &tcp(80, lport, SYN_ACK, b""),
    );
    rx(&mut s, "int", &answer);
    let back = sent(&mut s, "ext").remove(0);
    // The translated SYN-ACK as the client got it (IPv6 header and TCP, 60 bytes).
    let back = &back[14..74];
    // (ICMPv6 type, code, rest) -> (ICMPv4 type, code, rest), RFC 7915 5.2.
    let cases = [
        // Packet Too Big 1280: fragmentation needed, next-hop MTU 1260 (IPv4's 20 fewer).
        (
            2u8,
            0u8,
            1280u32.to_be_bytes(),
            3u8,
            4u8,
            [0, 0, 0x04, 0xec],
        ),
        (1, 4, [0; 4], 3, 3, [0; 4]),
        (1, 1, [0; 4], 3, 10, [0; 4]),
        (1, 0, [0; 4], 3, 1, [0; 4]),
        (3, 0, [0; 4], 11, 0, [0; 4]),
        // Parameter problem at the destination address (24): the IPv4 one's (16).
        (4, 0, 24u32.to_be_bytes(), 12, 0, [16, 0, 0, 0]),
    ];
    for quote in [48usize, 60] {
        for (t6, c6, r6, t4, c4, r4) in cases {
            let err = icmp6_error(t6, c6, r6, &back[..quote]);
            rx(
                &mut s,
                "ext",
                &ip6(EXT_MAC, ROUTER_MAC, client6(), vip6(), 64, 58, &err),
            );
            // The real's own SYN-ACK, its header rebuilt from the quote (TTL the hop limit,
            // identification 0, DF clear: RFC 7915 5.1), its TCP bytes as the real sent them.
            let mut quoted = ipv4_header(real4(), lb4(), 6, 63, 0, 0, 0, 20);
            quoted.extend_from_slice(&answer[34..34 + quote - 40]);
            let icmp = icmp4_error(t4, c4, r4, &quoted);
            let mut l3 = ipv4_header(lb4(), real4(), 1, 63, 0, 0, 0, icmp.len());
            l3.extend_from_slice(&icmp);
            let want = eth(REAL1_MAC, INT_MAC, 0x0800, &l3);
            assert_eq!(
                sent(&mut s, "int"),
                [want],
                "type {t6} code {c6}, quote {quote}"
            );
        }
    }
    counters(
        &s,
        &[
            ("rx", 14),
            ("tx", 14),
            ("conn_new", 1),
            ("nat_in", 1),
            ("nat_out", 1),
            ("icmp_errors_translated", 12),
        ],
    );
}

#[test]
fn nat64_icmp_errors_without_a_translation_are_dropped_and_others_are_the_kernels() {
    use common::packets::ipv4;
    use common::packets64::*;
    let mut s = sim(1);
    let (fwd, lport) = open64(&mut s);
    let from_router = |err: &[u8]| ipv4(INT_MAC, REAL1_MAC, router4(), lb4(), 1, err);
    // A redirect and a source quench about the NAT64 packet: RFC 7915 4.2 drops them.
    rx(
        &mut s,
        "int",
        &from_router(&icmp4_error(5, 1, router4().octets(), &fwd[..28])),
    );
    rx(
        &mut s,
        "int",
        &from_router(&icmp4_error(4, 0, [0; 4], &fwd[..28])),
    );
    // Destination unreachable code 14 (host precedence violation): 4.2 drops it too.
    rx(
        &mut s,
        "int",
        &from_router(&icmp4_error(3, 14, [0; 4], &fwd[..28])),
    );
    // The client's parameter problem code 2 (unrecognised option) about a reply: 5.2 drops it.
    let answer = ipv4(
        INT_MAC,
        REAL1_MAC,
        real4(),
        lb4(),
        6,
        &tcp(80, lport, SYN_ACK, b""),
    );
    rx(&mut s, "int", &answer);
    let back = sent(&mut s, "ext").remove(0);
    let err = icmp6_error(4, 2, 40u32.to_be_bytes(), &back[14..62]);
    rx(
        &mut s,
        "ext",
        &ip6(EXT_MAC, ROUTER_MAC, client6(), vip6(), 64, 58, &err),
    );
    // An error about a packet of the kernel's own (from a port outside NAT64's range), and
    // one about a NAT64 port no connection holds: the kernel's (no exception path here).
    let own = ipv4(
        REAL1_MAC,
        INT_MAC,
        lb4(),
        real4(),
        6,
        &tcp(40000, 80, SYN, b""),
    );
    rx(
        &mut s,
        "int",
        &from_router(&icmp4_error(3, 3, [0; 4], &own[14..42])),
    );
    let mut other = fwd.clone();
    other[20..22].copy_from_slice(&(lport + 1).to_be_bytes());
    rx(
        &mut s,
        "int",
        &from_router(&icmp4_error(3, 3, [0; 4], &other[..28])),
    );
    assert!(sent(&mut s, "ext").is_empty());
    assert!(sent(&mut s, "int").is_empty());
    counters(
        &s,
        &[
            ("rx", 8),
            ("tx", 2),
            ("conn_new", 1),
            ("nat_in", 1),
            ("nat_out", 1),
            ("drop_nat64_icmp_untranslatable", 4),
            ("drop_no_exception", 2),
        ],
    );
}

#[test]
fn nat64_fragments_follow_their_first_fragments_translation_both_ways() {
    use common::packets::udp_fragments;
    use common::packets64::*;
    let mut s = Sim::new(&config64(), 1, false).expect("config64");
    // One UDP datagram to dns64 (5300 -> the IPv4 real's 53) in two IPv6 fragments.
    let payload = [0x5a; 24];
    let whole6 = ip6(
        EXT_MAC,
        ROUTER_MAC,
        client6(),
        vip6(),
        64,
        17,
        &udp(5000, 5300, &payload),
    )[54..]
        .to_vec();
    let frag6 = |off: usize, end: usize, more: bool| {
        raw6(
            EXT_MAC,
            ROUTER_MAC,
            client6(),
            vip6(),
            64,
            44,
            &frag_header(17, off as u16, more, 0x0102_0304),
            &whole6[off..end],
        )
    };
    rx(&mut s, "ext", &frag6(0, 16, true));
    rx(&mut s, "ext", &frag6(16, 32, false));
    let out = sent(&mut s, "int");
    assert_eq!(out.len(), 2, "{:?}", s.nonzero_counters());
    let lport = u16::from_be_bytes([out[0][34], out[0][35]]);
    // IPv4 fragments of the datagram built for the real: identification the Fragment
    // header's low 16 bits, MF and offset copied, DF clear, TTL 63.
    let whole4 = with_checksum4(lb4(), real4(), 17, &udp(lport, 53, &payload));
    let frag4 = |off: usize, end: usize, word: u16| {
        let mut l3 = ipv4_header(lb4(), real4(), 17, 63, 0, 0x0304, word, end - off);
        l3.extend_from_slice(&whole4[off..end]);
        eth(REAL1_MAC, INT_MAC, 0x0800, &l3)
    };
    assert_eq!(out, [frag4(0, 16, 0x2000), frag4(16, 32, 2)]);
    // The real's answer in two IPv4 fragments to our port: IPv6 fragments to the client,
    // from the VIP's 5300, a Fragment header carrying identification, offset and M.
    let answer = [0xa5; 40];
    let frags = udp_fragments(
        INT_MAC,
        REAL1_MAC,
        real4(),
        lb4(),
        53,
        lport,
        &answer,
        0x4242,
        24,
    );
    for f in &frags {
        rx(&mut s, "int", f);
    }
    let back = sent(&mut s, "ext");
    let answer6 = ip6(
        ROUTER_MAC,
        EXT_MAC,
        vip6(),
        client6(),
        63,
        17,
        &udp(5300, 5000, &answer),
    )[54..]
        .to_vec();
    let want = |off: usize, end: usize, more: bool| {
        raw6(
            ROUTER_MAC,
            EXT_MAC,
            vip6(),
            client6(),
            63,
            44,
            &frag_header(17, off as u16, more, 0x4242),
            &answer6[off..end],
        )
    };
    assert_eq!(back.len(), 2);
    // An IPv4 fragment shorter than 60 bytes kept its Ethernet padding behind the packet.
    for (got, want) in back.iter().zip([want(0, 24, true), want(24, 48, false)]) {
        assert_eq!(&got[..want.len()], &want[..]);
        assert!(got[want.len()..].iter().all(|b| *b == 0));
    }
    // A later IPv4 fragment to our address of no datagram we translated: the kernel's.
    let mut stray = frags[1].clone();
    stray[18..20].copy_from_slice(&0x4343u16.to_be_bytes());
    stray[24..26].copy_from_slice(&[0, 0]);
    let c = dataplane::wire::checksum::checksum(&stray[14..34]);
    stray[24..26].copy_from_slice(&c.to_be_bytes());
    rx(&mut s, "int", &stray);
    counters(
        &s,
        &[
            ("rx", 5),
            ("tx", 4),
            ("conn_new", 1),
            ("nat_in", 2),
            ("nat_out", 2),
            ("fragments_forwarded", 4),
            ("drop_no_exception", 1),
        ],
    );
}

#[test]
fn nat64_icmp_errors_are_handed_to_the_worker_of_their_connection() {
    use common::packets::ipv4;
    use common::packets64::*;
    let mut s = sim(2);
    // A client port owned by worker 1; everything arrives at worker 0.
    let sport = (40000..41000)
        .find(|&p| dataplane::lb::flow::owner_worker(client6(), p, 2) == 1)
        .unwrap();
    s.rx(0, 0, &syn64(sport));
    let fwd = sent(&mut s, "int").remove(0);
    let lport = u16::from_be_bytes([fwd[34], fwd[35]]);
    assert_eq!(lport % 2, 1, "worker 1's port");
    // From the IPv4 side, to our port: its worker by the port.
    let err = icmp4_error(3, 3, [0; 4], &fwd[14..42]);
    s.rx(0, 1, &ipv4(INT_MAC, REAL1_MAC, router4(), lb4(), 1, &err));
    let out = sent(&mut s, "ext");
    assert_eq!(out.len(), 1);
    assert_eq!(
        (seen6(&out[0]).src, seen6(&out[0]).dst),
        (vip6(), client6())
    );
    // From the client side, about a reply: its worker by the client's port.
    let back = ip6(
        ROUTER_MAC,
        EXT_MAC,
        vip6(),
        client6(),
        63,
        6,
        &tcp(8080, sport, SYN_ACK, b""),
    );
    let err = icmp6_error(1, 4, [0; 4], &back[14..62]);
    s.rx(
        0,
        0,
        &ip6(EXT_MAC, ROUTER_MAC, client6(), vip6(), 64, 58, &err),
    );
    let out = sent(&mut s, "int");
    assert_eq!(out.len(), 1);
    assert_eq!(&out[0][26..34], &[198, 19, 0, 1, 198, 19, 0, 11]);
    assert_eq!(s.worker_counter(0, "handoff_out"), 3);
    assert_eq!(s.worker_counter(1, "handoff_in"), 3);
    assert_eq!(s.worker_counter(1, "icmp_errors_translated"), 2);
}
