//! IPv6 through the real binary (issue 11): NAT66 frames replayed through `dataplane replay`
//! (DPDK's net_pcap, the same workers and engine as live) come out exactly as built for the
//! real and back for the client, checksums valid; echo to the VIP and neighbour discovery are
//! answered, the management thread announces the VIP with an unsolicited advertisement; DR6
//! rewrites only MACs, TUN6 encapsulates (next header 41) and answers Packet Too Big; NAT64.
mod common;
use common::packets::tcp;
use common::packets6::*;
use common::summary_counter;
use common::two_ports::replay;

/// Frames the management thread sends on its own (unsolicited advertisements, solicitations:
/// IPv6 multicast) apart from what the engine answered.
fn from_mgmt(f: &[u8]) -> bool {
    f[0] == 0x33 && f[1] == 0x33
}

#[test]
fn nat66_both_ways_echo_and_nd_through_the_binary() {
    let syn = |sport| {
        ip6(
            EXT_MAC,
            ROUTER_MAC,
            client6(),
            vip6(),
            64,
            6,
            &tcp(sport, 80, 0x02, b""),
        )
    };
    let synack = ip6(
        INT_MAC,
        REAL1_MAC,
        real1_6(),
        client6(),
        64,
        6,
        &tcp(80, 40000, 0x12, b""),
    );
    let echo = ip6(EXT_MAC, ROUTER_MAC, client6(), vip6(), 64, 58, &echo6(3, 1));
    let ns = neighbor_solicit(ROUTER_MAC, router6(), vip6());
    let r = replay(
        &config6(),
        &[(1, ns), (1, syn(40000)), (1, syn(40001)), (2, echo)],
        &[(3, synack)],
    );
    let int: Vec<&Vec<u8>> = r.int.iter().filter(|f| !from_mgmt(f)).collect();
    let to_real = |real, mac, sport| {
        ip6(
            mac,
            INT_MAC,
            client6(),
            real,
            63,
            6,
            &tcp(sport, 80, 0x02, b""),
        )
    };
    assert_eq!(
        int,
        [
            &to_real(real1_6(), REAL1_MAC, 40000),
            &to_real(real2_6(), REAL2_MAC, 40001)
        ],
        "{}",
        r.summary
    );
    let (mgmt, ext): (Vec<&Vec<u8>>, Vec<&Vec<u8>>) = r.ext.iter().partition(|f| from_mgmt(f));
    assert_eq!(ext.len(), 3, "{}", r.summary);
    // The advertisement answering the solicitation.
    let na = seen6(ext[0]);
    assert_eq!((na.src, na.dst, ext[0][54]), (vip6(), router6(), 136));
    assert!(checksum6_ok(ext[0]));
    // The SYN-ACK back to the client from the VIP.
    let back = ip6(
        ROUTER_MAC,
        EXT_MAC,
        vip6(),
        client6(),
        63,
        6,
        &tcp(80, 40000, 0x12, b""),
    );
    let mut reply = echo6(3, 1);
    reply[0] = 129;
    let pong = ip6(ROUTER_MAC, EXT_MAC, vip6(), client6(), 64, 58, &reply);
    let mut rest = vec![ext[1].clone(), ext[2].clone()];
    rest.sort();
    let mut want = vec![back, pong];
    want.sort();
    assert_eq!(rest, want);
    // At start the management thread announced the VIP to all nodes.
    assert!(
        mgmt.iter()
            .any(|f| f[54] == 136 && f[62..78] == vip6().octets()),
        "an unsolicited advertisement for the VIP"
    );
    for (name, want) in [
        ("conn_new", 2),
        ("nat_in", 2),
        ("nat_out", 1),
        ("echo_replies", 1),
        ("nd_answered", 1),
    ] {
        assert_eq!(
            summary_counter(&r.summary, "worker ", name),
            want,
            "{name}: {}",
            r.summary
        );
    }
}

#[test]
fn nat64_both_ways_through_the_binary() {
    use common::packets::{ipv4, seen};
    let lb4: std::net::Ipv4Addr = "198.19.0.1".parse().unwrap();
    let real4: std::net::Ipv4Addr = "198.19.0.11".parse().unwrap();
    let syn = ip6(
        EXT_MAC,
        ROUTER_MAC,
        client6(),
        vip6(),
        64,
        6,
        &tcp(40000, 8080, 0x02, b""),
    );
    // One worker: its first NAT64 port is the range's first, 1024.
    let synack = ipv4(INT_MAC, REAL1_MAC, real4, lb4, 6, &tcp(80, 1024, 0x12, b""));
    let r = replay(&config6(), &[(1, syn)], &[(2, synack)]);
    let int: Vec<&Vec<u8>> = r.int.iter().filter(|f| !from_mgmt(f)).collect();
    assert_eq!(int.len(), 1, "{}", r.summary);
    let v4 = seen(int[0]);
    assert_eq!((v4.src, v4.sport, v4.dst, v4.dport), (lb4, 1024, real4, 80));
    assert!(v4.ip_ok && v4.l4_ok, "checksums");
    let ext: Vec<&Vec<u8>> = r.ext.iter().filter(|f| !from_mgmt(f)).collect();
    assert_eq!(ext.len(), 1, "{}", r.summary);
    let want = ip6(
        ROUTER_MAC,
        EXT_MAC,
        vip6(),
        client6(),
        63,
        6,
        &tcp(8080, 40000, 0x12, b""),
    );
    assert_eq!(&ext[0][..want.len()], &want[..]);
    assert!(checksum6_ok(ext[0]));
    for (name, want) in [("conn_new", 1), ("nat_in", 1), ("nat_out", 1)] {
        assert_eq!(
            summary_counter(&r.summary, "worker ", name),
            want,
            "{name}: {}",
            r.summary
        );
    }
}

// ---- NAT64 ICMP errors, both ways, through the binary (h11b) ----

#[test]
fn nat64_icmp_errors_are_translated_both_ways_through_the_binary() {
    use common::packets::ipv4;
    use common::packets64::*;
    let syn = ip6(
        EXT_MAC,
        ROUTER_MAC,
        client6(),
        vip6(),
        64,
        6,
        &tcp(40000, 8080, 0x02, b""),
    );
    // One worker: its first NAT64 port is the range's first, 1024.
    let synack = ipv4(
        INT_MAC,
        REAL1_MAC,
        real4(),
        lb4(),
        6,
        &tcp(80, 1024, 0x12, b""),
    );
    // A router behind the appliance cannot forward the SYN as sent (its header and 8 bytes
    // quoted; the identification is the appliance's choice, the quote's is not read).
    let mut fwd_quote = ipv4_header(lb4(), real4(), 6, 63, 0, 0x77, 0x4000, 20);
    fwd_quote.extend_from_slice(&tcp(1024, 80, 0x02, b"")[..8]);
    let frag_needed = ipv4(
        INT_MAC,
        REAL1_MAC,
        router4(),
        lb4(),
        1,
        &icmp4_error(3, 4, [0, 0, 0x05, 0x78], &fwd_quote),
    );
    // The client side answers the translated SYN-ACK with Packet Too Big 1280.
    let back = ip6(
        ROUTER_MAC,
        EXT_MAC,
        vip6(),
        client6(),
        63,
        6,
        &tcp(8080, 40000, 0x12, b""),
    );
    let ptb = ip6(
        EXT_MAC,
        ROUTER_MAC,
        router6(),
        vip6(),
        64,
        58,
        &icmp6_error(2, 0, 1280u32.to_be_bytes(), &back[14..]),
    );
    let r = replay(
        &config6(),
        &[(1, syn), (4, ptb)],
        &[(2, synack.clone()), (3, frag_needed)],
    );
    // To the client: the SYN-ACK, then Packet Too Big 1420 from the VIP quoting its SYN.
    let ext: Vec<&Vec<u8>> = r.ext.iter().filter(|f| !from_mgmt(f)).collect();
    assert_eq!(ext.len(), 2, "{}", r.summary);
    assert_eq!(&ext[0][..back.len()], &back[..]);
    let orig = ip6(
        EXT_MAC,
        ROUTER_MAC,
        client6(),
        vip6(),
        63,
        6,
        &tcp(40000, 8080, 0x02, b""),
    );
    let want_ptb = ip6(
        ROUTER_MAC,
        EXT_MAC,
        vip6(),
        client6(),
        63,
        58,
        &icmp6_error(2, 0, 1420u32.to_be_bytes(), &orig[14..62]),
    );
    assert_eq!(ext[1], &want_ptb, "{}", r.summary);
    // To the real: the SYN, then fragmentation needed (MTU 1260) from our address quoting
    // its own SYN-ACK (header rebuilt from the quote, TCP bytes as the real sent them).
    let int: Vec<&Vec<u8>> = r.int.iter().filter(|f| !from_mgmt(f)).collect();
    assert_eq!(int.len(), 2, "{}", r.summary);
    let mut quoted = ipv4_header(real4(), lb4(), 6, 63, 0, 0, 0, 20);
    quoted.extend_from_slice(&synack[34..54]);
    let icmp = icmp4_error(3, 4, [0, 0, 0x04, 0xec], &quoted);
    let mut l3 = ipv4_header(lb4(), real4(), 1, 63, 0, 0, 0, icmp.len());
    l3.extend_from_slice(&icmp);
    assert_eq!(
        int[1],
        &eth(REAL1_MAC, INT_MAC, 0x0800, &l3),
        "{}",
        r.summary
    );
    for (name, want) in [
        ("conn_new", 1),
        ("nat_in", 1),
        ("nat_out", 1),
        ("icmp_errors_translated", 2),
    ] {
        assert_eq!(
            summary_counter(&r.summary, "worker ", name),
            want,
            "{name}: {}",
            r.summary
        );
    }
}

/// DR6 and TUN6 through the binary: a DR query leaves with only its MACs rewritten (the IPv6
/// header, hop limit included, untouched); a TUN6 SYN leaves inside an outer IPv6 header (next
/// header 41, from our address on the reals' side to the real, hop limit 64, payload length the
/// inner packet's, a flow label set); a packet too big for the tunnel is answered to the client
/// with ICMPv6 Packet Too Big carrying the tunnel MTU (the port's 1500 less the outer header).
#[test]
fn dr6_tun6_and_packet_too_big_through_the_binary() {
    use common::packets::udp;
    let query = ip6(
        EXT_MAC,
        ROUTER_MAC,
        client6(),
        vip6(),
        64,
        17,
        &udp(5000, 53, b"query"),
    );
    let syn = ip6(
        EXT_MAC,
        ROUTER_MAC,
        client6(),
        tun_vip6(),
        64,
        6,
        &tcp(40000, 80, 0x02, b""),
    );
    // 1461 bytes of IPv6 packet: 1501 once encapsulated, over the int port's 1500.
    let big = ip6(
        EXT_MAC,
        ROUTER_MAC,
        client6(),
        tun_vip6(),
        64,
        6,
        &tcp(40000, 80, 0x10, &[0xab; 1461 - 40 - 20]),
    );
    let r = replay(
        &config6(),
        &[(1, query.clone()), (2, syn.clone()), (3, big.clone())],
        &[],
    );
    let int: Vec<&Vec<u8>> = r.int.iter().filter(|f| !from_mgmt(f)).collect();
    assert_eq!(int.len(), 2, "{}", r.summary);
    // DR6: the same frame but for its MACs.
    let mut dr = query.clone();
    dr[..6].copy_from_slice(&REAL1_MAC);
    dr[6..12].copy_from_slice(&INT_MAC);
    assert_eq!(int[0], &dr, "{}", r.summary);
    // TUN6: Ethernet to real2, the outer header, the inner packet unchanged.
    let f = int[1];
    assert_eq!(f.len(), 14 + 40 + syn.len() - 14);
    assert_eq!(
        &f[..14],
        &[&REAL2_MAC[..], &INT_MAC[..], &[0x86, 0xdd]].concat()[..]
    );
    assert_eq!(f[14] >> 4, 6, "outer version");
    assert_eq!(
        (f[14] & 0xf, f[15] >> 4),
        (0, 0),
        "traffic class copied (0)"
    );
    let label = u32::from_be_bytes([0, f[15] & 0xf, f[16], f[17]]);
    assert_ne!(label, 0, "a flow label hashed from the inner flow");
    assert_eq!(
        u16::from_be_bytes([f[18], f[19]]) as usize,
        syn.len() - 14,
        "outer payload length: the inner packet"
    );
    assert_eq!((f[20], f[21]), (41, 64), "next header IPv6, hop limit 64");
    assert_eq!(&f[22..38], &int6().octets()[..], "from our address on int");
    assert_eq!(&f[38..54], &real2_6().octets()[..], "to the real");
    assert_eq!(&f[54..], &syn[14..], "the inner packet unchanged");
    // Packet Too Big back to the client, from the VIP it sent to.
    let ext: Vec<&Vec<u8>> = r.ext.iter().filter(|f| !from_mgmt(f)).collect();
    assert_eq!(ext.len(), 1, "{}", r.summary);
    let p = ext[0];
    let h = seen6(p);
    assert_eq!((&p[..6], &p[6..12]), (&ROUTER_MAC[..], &EXT_MAC[..]));
    assert_eq!((h.src, h.dst, h.proto), (tun_vip6(), client6(), 58));
    assert_eq!((p[54], p[55]), (2, 0), "Packet Too Big, code 0");
    assert_eq!(u32::from_be_bytes([p[58], p[59], p[60], p[61]]), 1460);
    // The quote: as much of the packet as fits the minimum MTU (1280 bytes in all).
    assert_eq!(p.len(), 14 + 1280);
    assert_eq!(&p[62..], &big[14..14 + 1280 - 48], "quotes the packet");
    assert!(checksum6_ok(p));
    for (name, want) in [
        ("conn_new", 2),
        ("dr_in", 1),
        ("tun_in", 1),
        ("packet_too_big_sent", 1),
    ] {
        assert_eq!(
            summary_counter(&r.summary, "worker ", name),
            want,
            "{name}: {}",
            r.summary
        );
    }
}
