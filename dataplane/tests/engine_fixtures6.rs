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
