//! VS-NAT for ICMP errors (destination unreachable, time exceeded, ...) about a NAT connection:
//! the outer header and the quoted packet are translated the way the connection's own packets
//! are, so path MTU discovery and port-unreachable work through the load balancer.
//!
//! The quoted packet travelled in the opposite direction of the error: an error coming from the
//! client side quotes a reply we sent (VIP:vport -> client), one coming from the real side quotes
//! a request we forwarded (client -> real:rport).

use std::net::Ipv4Addr;

use super::{ipv4_at, ForwardError};
use crate::lb::types::{FlowKey, Protocol};
use crate::wire::ip_proto;
use crate::wire::{Icmpv4Packet, Ipv4Packet, WireError};

/// The TCP/UDP flow an ICMP error at `l3` is about, as the quoted packet travelled (its source
/// first): for an error from the client side that is VIP:vport -> client:cport (look the
/// connection up reversed), from the real side client:cport -> real:rport.
///
/// `None` when the packet is not an unfragmented ICMP error quoting the first bytes of a TCP or
/// UDP packet.
pub fn quoted_flow(frame: &[u8], l3: usize) -> Option<FlowKey> {
    let ip = Ipv4Packet::new_checked(frame.get(l3..)?).ok()?;
    if ip.is_fragment() || ip.protocol() != ip_proto::ICMP {
        return None;
    }
    let msg = Icmpv4Packet::new_checked(ip.payload()).ok()?;
    let q = msg.quote().ok()?;
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
/// VIP:vport -> client) goes on to the real server: outer destination -> `real`, quoted source
/// -> `real`:`rport`.
///
/// Checksums: outer IP incremental; quoted IP header and quoted UDP (when not 0) or TCP (when
/// quoted) incremental; ICMP verified first, then recomputed. TTL decremented.
/// Errors, frame untouched: [`ForwardError::Fragment`], [`ForwardError::TtlExpired`],
/// [`ForwardError::BadIcmpChecksum`], and [`ForwardError::Wire`] when it is not an ICMP error
/// quoting a TCP/UDP header.
pub fn icmp_error_to_real(
    frame: &mut [u8],
    l3: usize,
    real: Ipv4Addr,
    rport: u16,
) -> Result<(), ForwardError> {
    translate(frame, l3, Toward::Real, real, rport)
}

/// An error from the real side (a real server or a router behind it) about a packet we
/// forwarded (quoted client -> real:rport) goes back to the client as if from the VIP: outer
/// source -> `vip` (as IPVS does: the client only knows the VIP), quoted destination ->
/// `vip`:`vport`. Checksums, TTL and errors as for [`icmp_error_to_real`].
pub fn icmp_error_to_client(
    frame: &mut [u8],
    l3: usize,
    vip: Ipv4Addr,
    vport: u16,
) -> Result<(), ForwardError> {
    translate(frame, l3, Toward::Client, vip, vport)
}

/// Where the translated error goes.
#[derive(Clone, Copy)]
enum Toward {
    Real,
    Client,
}

fn translate(
    frame: &mut [u8],
    l3: usize,
    toward: Toward,
    addr: Ipv4Addr,
    port: u16,
) -> Result<(), ForwardError> {
    let mut ip = ipv4_at(frame, l3)?;
    if ip.is_fragment() {
        return Err(ForwardError::Fragment);
    }
    if ip.ttl() <= 1 {
        return Err(ForwardError::TtlExpired);
    }
    if ip.protocol() != ip_proto::ICMP {
        return Err(WireError::Unsupported.into());
    }
    {
        let mut msg = Icmpv4Packet::new_checked(ip.payload_mut())?;
        let q = msg.quote()?;
        if !q.has_l4_header() || !matches!(q.protocol(), ip_proto::TCP | ip_proto::UDP) {
            return Err(WireError::Unsupported.into());
        }
        if !msg.verify_checksum() {
            return Err(ForwardError::BadIcmpChecksum);
        }
        let mut q = msg.quote_mut()?;
        match toward {
            Toward::Real => q.rewrite_src(addr, port),
            Toward::Client => q.rewrite_dst(addr, port),
        }
        msg.fill_checksum();
    }
    match toward {
        Toward::Real => ip.rewrite_dst_addr(addr),
        Toward::Client => ip.rewrite_src_addr(addr),
    };
    // Cannot fail: the TTL was checked above.
    ip.decrement_ttl();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_packets::*;
    use super::*;
    use crate::wire::icmpv4::{icmp_type, unreach_code};

    const ROUTER_BEHIND: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

    /// The frame of an ICMP error `outer` quoting the first `quote_len` bytes of `quoted`.
    fn error_frame(outer: Ip, t: u8, code: u8, quoted: &[u8], quote_len: usize) -> Vec<u8> {
        let rest = if t == icmp_type::DEST_UNREACHABLE && code == unreach_code::FRAG_NEEDED {
            [0, 0, 0x05, 0xc8]
        } else {
            [0; 4]
        };
        icmp(outer, t, code, rest, &quoted[..quote_len.min(quoted.len())])
    }

    /// Translates `error` toward the real with `f` and compares it with `expected`, byte for byte.
    fn check(
        error: &[u8],
        expected: &[u8],
        vlan: bool,
        f: impl Fn(&mut [u8], usize) -> Result<(), ForwardError>,
    ) {
        let (mut fr, l3) = ip_frame(vlan, error, 5);
        f(&mut fr, l3).unwrap();
        assert_eq!(&fr[l3..l3 + expected.len()], expected);
        assert_eq!(&fr[l3 + expected.len()..], &[0xee; 5]);
        assert_checksums_ok(&fr, l3);
    }

    #[test]
    fn client_side_errors_go_to_the_real() {
        let to_real = |f: &mut [u8], l3| icmp_error_to_real(f, l3, REAL, 8080);
        for vlan in [false, true] {
            for quote_len in [28, 44, 1000] {
                // Time exceeded from a router near the client, about our TCP reply.
                let sent = tcp(Ip::new(VIP, CLIENT).ttl(1), 80, 40000, b"HTTP/1.0 200 OK");
                let was = tcp(
                    Ip::new(REAL, CLIENT).ttl(1),
                    8080,
                    40000,
                    b"HTTP/1.0 200 OK",
                );
                let error = error_frame(Ip::new(ROUTER, VIP), 11, 0, &sent, quote_len);
                let expected = error_frame(Ip::new(ROUTER, REAL).ttl(63), 11, 0, &was, quote_len);
                check(&error, &expected, vlan, to_real);

                // Port unreachable from the client about a UDP reply, checksum present or not.
                for no_csum in [false, true] {
                    let sent = udp(Ip::new(VIP, CLIENT), 53, 5353, b"answer", no_csum);
                    let was = udp(Ip::new(REAL, CLIENT), 8080, 5353, b"answer", no_csum);
                    let error = error_frame(Ip::new(CLIENT, VIP), 3, 3, &sent, quote_len);
                    let expected =
                        error_frame(Ip::new(CLIENT, REAL).ttl(63), 3, 3, &was, quote_len);
                    check(&error, &expected, vlan, to_real);
                }
            }
        }
    }

    #[test]
    fn real_side_errors_go_to_the_client_from_the_vip() {
        let to_client = |f: &mut [u8], l3| icmp_error_to_client(f, l3, VIP, 80);
        for quote_len in [28, 1000] {
            // Fragmentation needed from a router behind us, about a request we forwarded.
            let fwd = tcp(Ip::new(CLIENT, REAL).ttl(63), 40000, 8080, &[7; 600]);
            let orig = tcp(Ip::new(CLIENT, VIP).ttl(63), 40000, 80, &[7; 600]);
            let error = error_frame(Ip::new(ROUTER_BEHIND, CLIENT), 3, 4, &fwd, quote_len);
            let expected = error_frame(Ip::new(VIP, CLIENT).ttl(63), 3, 4, &orig, quote_len);
            check(&error, &expected, false, to_client);

            // Port unreachable from the real server itself.
            let fwd = udp(Ip::new(CLIENT, REAL), 5353, 8080, b"q", false);
            let orig = udp(Ip::new(CLIENT, VIP), 5353, 80, b"q", false);
            let error = error_frame(Ip::new(REAL, CLIENT), 3, 3, &fwd, quote_len);
            let expected = error_frame(Ip::new(VIP, CLIENT).ttl(63), 3, 3, &orig, quote_len);
            check(&error, &expected, true, to_client);
        }
    }

    #[test]
    fn quoted_flow_finds_the_connection() {
        let sent = tcp(Ip::new(VIP, CLIENT), 80, 40000, b"");
        let error = error_frame(Ip::new(ROUTER, VIP), 11, 0, &sent, 28);
        let (f, l3) = ip_frame(true, &error, 0);
        assert_eq!(
            quoted_flow(&f, l3),
            Some(FlowKey {
                proto: Protocol::Tcp,
                src: VIP,
                dst: CLIENT,
                sport: 80,
                dport: 40000
            })
        );
        let fwd = udp(Ip::new(CLIENT, REAL), 5353, 8080, b"q", true);
        let (f, l3) = ip_frame(
            false,
            &error_frame(Ip::new(REAL, CLIENT), 3, 3, &fwd, 28),
            0,
        );
        let k = quoted_flow(&f, l3).unwrap();
        assert_eq!(
            (k.proto, k.src, k.sport, k.dst, k.dport),
            (Protocol::Udp, CLIENT, 5353, REAL, 8080)
        );

        // Not an error, a quote too short, a quoted ICMP, a quoted later fragment, wrong l3.
        let echo = icmp(Ip::new(CLIENT, VIP), 8, 0, [0; 4], &sent);
        let short = error_frame(Ip::new(ROUTER, VIP), 11, 0, &sent, 27);
        let ping = icmp(Ip::new(VIP, CLIENT), 8, 0, [0, 1, 0, 1], b"");
        let about_ping = error_frame(Ip::new(ROUTER, VIP), 11, 0, &ping, 28);
        let mut later = sent.clone();
        later[7] = 1;
        let about_later = error_frame(Ip::new(ROUTER, VIP), 11, 0, &later, 28);
        for p in [&echo, &short, &about_ping, &about_later, &sent] {
            let (f, l3) = ip_frame(false, p, 0);
            assert_eq!(quoted_flow(&f, l3), None);
        }
        let (f, _) = ip_frame(false, &error, 0);
        assert_eq!(quoted_flow(&f, 15), None);
        assert_eq!(quoted_flow(&f, 1000), None);
    }

    #[test]
    fn refusals_leave_the_frame_untouched() {
        let sent = udp(Ip::new(VIP, CLIENT), 53, 5353, b"answer", false);
        let refused = |p: &[u8], want: ForwardError| {
            let (mut f, l3) = ip_frame(false, p, 0);
            let orig = f.clone();
            assert_eq!(icmp_error_to_real(&mut f, l3, REAL, 1), Err(want));
            assert_eq!(icmp_error_to_client(&mut f, l3, VIP, 1), Err(want));
            assert_eq!(f, orig);
        };
        let good = error_frame(Ip::new(CLIENT, VIP), 3, 3, &sent, 28);
        let mut bad_sum = good.clone();
        bad_sum[22] ^= 1;
        refused(&bad_sum, ForwardError::BadIcmpChecksum);
        refused(
            &error_frame(Ip::new(CLIENT, VIP).ttl(1), 3, 3, &sent, 28),
            ForwardError::TtlExpired,
        );
        let mut frag = good.clone();
        frag[6] = 0x20;
        refused(&frag, ForwardError::Fragment);
        let wire = |e| ForwardError::Wire(e);
        refused(
            &icmp(Ip::new(CLIENT, VIP), 8, 0, [0; 4], &sent),
            wire(WireError::Unsupported),
        );
        refused(
            &error_frame(Ip::new(CLIENT, VIP), 3, 3, &sent, 27),
            wire(WireError::Truncated),
        );
        let ping = icmp(Ip::new(VIP, CLIENT), 8, 0, [0, 1, 0, 1], b"");
        refused(
            &error_frame(Ip::new(CLIENT, VIP), 3, 3, &ping, 28),
            wire(WireError::Unsupported),
        );
        refused(&sent, wire(WireError::Unsupported));
        let mut later = sent.clone();
        later[7] = 1;
        refused(
            &error_frame(Ip::new(CLIENT, VIP), 3, 3, &later, 28),
            wire(WireError::Unsupported),
        );
    }
}
