//! NAT66 for ICMPv6 errors (destination unreachable, packet too big, time exceeded,
//! parameter problem) about a NAT66 connection, the IPv6 side of `icmp_nat.rs`: the outer
//! header and the quoted packet are translated the way the connection's own packets are, so
//! path MTU discovery (vital on IPv6: routers never fragment) and port-unreachable work
//! through the load balancer.
//!
//! The quoted packet travelled the opposite way of the error: an error from the client side
//! quotes a reply we sent (VIP:vport -> client), one from the real side a request we forwarded
//! (client -> real:rport). The ICMPv6 checksum covers the outer addresses (pseudo-header): it
//! is verified against the old ones, then recomputed over the whole message.

use std::net::Ipv6Addr;

use super::nat66::ipv6_at;
use super::ForwardError;
use crate::lb::types::{FlowKey, Protocol};
use crate::wire::icmpv6_quote::QuotedIpv6;
use crate::wire::ip_proto;
use crate::wire::ipv6::HEADER_LEN as IPV6_HEADER_LEN;
use crate::wire::{Icmpv6Packet, Ipv6Packet, WireError};

/// The TCP/UDP flow an ICMPv6 error at `l3` is about, as the quoted packet travelled (its
/// source first): VIP:vport -> client:cport for an error from the client side (look the
/// connection up reversed), client:cport -> real:rport from the real side.
///
/// `None` when the packet is not an unfragmented ICMPv6 error quoting the first bytes of a
/// TCP or UDP header.
pub fn quoted_flow6(frame: &[u8], l3: usize) -> Option<FlowKey<Ipv6Addr>> {
    let ip = Ipv6Packet::new_checked(frame.get(l3..)?).ok()?;
    let ul = ip.upper_layer().ok()?;
    if ul.fragment.is_some() || ul.protocol != ip_proto::ICMPV6 {
        return None;
    }
    let msg = Icmpv6Packet::new_checked(ip.payload().get(ul.offset - IPV6_HEADER_LEN..)?).ok()?;
    if !msg.is_error() {
        return None;
    }
    let q = QuotedIpv6::new_checked(msg.data()).ok()?;
    if !q.has_l4_header() {
        return None;
    }
    let proto = match q.protocol() {
        ip_proto::TCP => Protocol::Tcp,
        ip_proto::UDP => Protocol::Udp,
        _ => return None,
    };
    Some(FlowKey {
        proto,
        src: q.src_addr(),
        dst: q.dst_addr(),
        sport: q.src_port(),
        dport: q.dst_port(),
    })
}

/// An error from the client side (outer destination the VIP) about a reply we sent (quoted
/// VIP:vport -> client) goes on to the real: outer destination -> `real`, quoted source ->
/// `real`:`rport`. Hop limit decremented; quoted L4 checksum updated when whole; ICMPv6
/// checksum verified, then recomputed.
///
/// Errors, frame untouched: [`ForwardError::Fragment`], [`ForwardError::TtlExpired`] (hop
/// limit), [`ForwardError::BadIcmpChecksum`], and [`ForwardError::Wire`] when it is not an
/// ICMPv6 error quoting a TCP/UDP header.
pub fn icmp6_error_to_real(
    frame: &mut [u8],
    l3: usize,
    real: Ipv6Addr,
    rport: u16,
) -> Result<(), ForwardError> {
    translate(frame, l3, Toward::Real, real, rport)
}

/// An error from the real side about a packet we forwarded (quoted client -> real:rport)
/// goes back to the client as if from the VIP: outer source -> `vip`, quoted destination ->
/// `vip`:`vport`. Checksums, hop limit and errors as for [`icmp6_error_to_real`].
pub fn icmp6_error_to_client(
    frame: &mut [u8],
    l3: usize,
    vip: Ipv6Addr,
    vport: u16,
) -> Result<(), ForwardError> {
    translate(frame, l3, Toward::Client, vip, vport)
}

#[derive(Clone, Copy)]
enum Toward {
    Real,
    Client,
}

fn translate(
    frame: &mut [u8],
    l3: usize,
    toward: Toward,
    addr: Ipv6Addr,
    port: u16,
) -> Result<(), ForwardError> {
    let (mut ip, ul) = ipv6_at(frame, l3)?;
    if ul.fragment.is_some_and(|f| f.offset != 0 || f.more) {
        return Err(ForwardError::Fragment);
    }
    if ip.hop_limit() <= 1 {
        return Err(ForwardError::TtlExpired);
    }
    if ul.protocol != ip_proto::ICMPV6 {
        return Err(WireError::Unsupported.into());
    }
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let (new_src, new_dst) = match toward {
        Toward::Real => (src, addr),
        Toward::Client => (addr, dst),
    };
    {
        let payload = ip.payload_mut();
        let msg_bytes = payload
            .get_mut(ul.offset - IPV6_HEADER_LEN..)
            .ok_or(WireError::Truncated)?;
        let mut msg = Icmpv6Packet::new_checked(msg_bytes)?;
        if !msg.is_error() {
            return Err(WireError::Unsupported.into());
        }
        let q = QuotedIpv6::new_checked(msg.data())?;
        if !q.has_l4_header() || !matches!(q.protocol(), ip_proto::TCP | ip_proto::UDP) {
            return Err(WireError::Unsupported.into());
        }
        if !msg.verify_checksum(&src, &dst) {
            return Err(ForwardError::BadIcmpChecksum);
        }
        let mut q = QuotedIpv6::new_checked(msg.data_mut())?;
        match toward {
            Toward::Real => q.rewrite_src(addr, port),
            Toward::Client => q.rewrite_dst(addr, port),
        }
        msg.fill_checksum(&new_src, &new_dst);
    }
    ip.set_src_addr(new_src);
    ip.set_dst_addr(new_dst);
    ip.set_hop_limit(ip.hop_limit() - 1);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_packets6::*;
    use super::*;
    use crate::wire::icmpv6::icmpv6_type;

    const ROUTER_BEHIND: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0xfe);

    /// The error `outer` of `t`/`code` quoting the first `quote_len` bytes of `quoted`.
    fn error(outer: Ip6, t: u8, code: u8, quoted: &[u8], quote_len: usize) -> Vec<u8> {
        let rest = if t == icmpv6_type::PACKET_TOO_BIG {
            1400u32.to_be_bytes()
        } else {
            [0; 4]
        };
        icmp6(outer, t, code, rest, &quoted[..quote_len.min(quoted.len())])
    }

    fn check(
        err: &[u8],
        want: &[u8],
        vlan: bool,
        f: impl Fn(&mut [u8], usize) -> Result<(), ForwardError>,
    ) {
        let (mut fr, l3) = ip6_frame(vlan, err, 5);
        f(&mut fr, l3).unwrap();
        assert_eq!(&fr[l3..l3 + want.len()], want);
        assert_eq!(&fr[l3 + want.len()..], &[0xee; 5]);
        assert_checksums6_ok(&fr, l3);
    }

    #[test]
    fn client_side_errors_go_to_the_real() {
        let to_real = |f: &mut [u8], l3| icmp6_error_to_real(f, l3, REAL6, 8080);
        for vlan in [false, true] {
            for quote_len in [48, 60, 1000] {
                // Time exceeded near the client, about our TCP reply.
                let sent = tcp6(Ip6::new(VIP6, CLIENT6).hops(1), 80, 40000, b"HTTP/1.1 200");
                let was = tcp6(
                    Ip6::new(REAL6, CLIENT6).hops(1),
                    8080,
                    40000,
                    b"HTTP/1.1 200",
                );
                let e = error(Ip6::new(ROUTER6, VIP6), 3, 0, &sent, quote_len);
                let want = error(Ip6::new(ROUTER6, REAL6).hops(63), 3, 0, &was, quote_len);
                check(&e, &want, vlan, to_real);
                // Port unreachable from the client about a UDP reply.
                let sent = udp6(Ip6::new(VIP6, CLIENT6), 53, 5353, b"answer");
                let was = udp6(Ip6::new(REAL6, CLIENT6), 8080, 5353, b"answer");
                let e = error(Ip6::new(CLIENT6, VIP6), 1, 4, &sent, quote_len);
                let want = error(Ip6::new(CLIENT6, REAL6).hops(63), 1, 4, &was, quote_len);
                check(&e, &want, vlan, to_real);
            }
        }
    }

    #[test]
    fn real_side_errors_go_to_the_client_from_the_vip() {
        let to_client = |f: &mut [u8], l3| icmp6_error_to_client(f, l3, VIP6, 80);
        for quote_len in [48, 1232] {
            // Packet too big from a router behind us, about a request we forwarded.
            let fwd = tcp6(Ip6::new(CLIENT6, REAL6).hops(63), 40000, 8080, &[7; 1400]);
            let orig = tcp6(Ip6::new(CLIENT6, VIP6).hops(63), 40000, 80, &[7; 1400]);
            let e = error(Ip6::new(ROUTER_BEHIND, CLIENT6), 2, 0, &fwd, quote_len);
            let want = error(Ip6::new(VIP6, CLIENT6).hops(63), 2, 0, &orig, quote_len);
            check(&e, &want, false, to_client);
        }
        // Port unreachable from the real itself.
        let fwd = udp6(Ip6::new(CLIENT6, REAL6), 5353, 8080, b"q");
        let orig = udp6(Ip6::new(CLIENT6, VIP6), 5353, 80, b"q");
        let e = error(Ip6::new(REAL6, CLIENT6), 1, 4, &fwd, 100);
        let want = error(Ip6::new(VIP6, CLIENT6).hops(63), 1, 4, &orig, 100);
        check(&e, &want, true, to_client);
    }

    #[test]
    fn quoted_flow6_finds_the_connection() {
        let sent = tcp6(Ip6::new(VIP6, CLIENT6), 80, 40000, b"");
        let (f, l3) = ip6_frame(true, &error(Ip6::new(ROUTER6, VIP6), 3, 0, &sent, 48), 0);
        assert_eq!(
            quoted_flow6(&f, l3),
            Some(FlowKey {
                proto: Protocol::Tcp,
                src: VIP6,
                dst: CLIENT6,
                sport: 80,
                dport: 40000
            })
        );
        // Not an error, a quote too short, a quoted ICMPv6, wrong offsets.
        let echo = icmp6(Ip6::new(CLIENT6, VIP6), 128, 0, [0; 4], &sent);
        let short = error(Ip6::new(ROUTER6, VIP6), 3, 0, &sent, 47);
        let ping = icmp6(Ip6::new(VIP6, CLIENT6), 128, 0, [0, 1, 0, 1], b"");
        let about_ping = error(Ip6::new(ROUTER6, VIP6), 3, 0, &ping, 48);
        for p in [&echo, &short, &about_ping, &sent] {
            let (f, l3) = ip6_frame(false, p, 0);
            assert_eq!(quoted_flow6(&f, l3), None);
        }
        assert_eq!(quoted_flow6(&f, 15), None);
        assert_eq!(quoted_flow6(&f, 1000), None);
    }

    #[test]
    fn refusals_leave_the_frame_untouched() {
        let sent = udp6(Ip6::new(VIP6, CLIENT6), 53, 5353, b"answer");
        let refused = |p: &[u8], want: ForwardError| {
            let (mut f, l3) = ip6_frame(false, p, 0);
            let orig = f.clone();
            assert_eq!(icmp6_error_to_real(&mut f, l3, REAL6, 1), Err(want));
            assert_eq!(icmp6_error_to_client(&mut f, l3, VIP6, 1), Err(want));
            assert_eq!(f, orig);
        };
        let good = error(Ip6::new(CLIENT6, VIP6), 1, 4, &sent, 48);
        let mut bad_sum = good.clone();
        bad_sum[42] ^= 1;
        refused(&bad_sum, ForwardError::BadIcmpChecksum);
        refused(
            &error(Ip6::new(CLIENT6, VIP6).hops(1), 1, 4, &sent, 48),
            ForwardError::TtlExpired,
        );
        let wire = ForwardError::Wire;
        refused(
            &icmp6(Ip6::new(CLIENT6, VIP6), 128, 0, [0; 4], &sent),
            wire(WireError::Unsupported),
        );
        refused(
            &error(Ip6::new(CLIENT6, VIP6), 1, 4, &sent, 47),
            wire(WireError::Unsupported),
        );
        refused(
            &error(Ip6::new(CLIENT6, VIP6), 1, 4, &sent, 39),
            wire(WireError::Truncated),
        );
        refused(&sent, wire(WireError::Unsupported));
    }
}
