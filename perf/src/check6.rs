//! Checking the IPv6 frames the appliance sends back (the IPv6 side of `check`): NAT66
//! (destination one of the reals on the real's port, source unchanged, hop limit decremented,
//! TCP checksum valid with the IPv6 pseudo-header), DR (the frame as sent with new MACs), TUN over
//! IPv6 (an outer IPv6 header, next header 41, to a real; the frame as sent inside) and the MAC
//! swap baseline. Neighbour discovery and other ICMPv6 are not ours (`Verdict::Other`).

use crate::check::{Checker, Expect, Verdict, Wrong};
use crate::frame6::{stamp6, HOP_LIMIT, IP6};
use dataplane::wire::{checksum, ether_type};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Checks one IPv6 frame (its EtherType already seen to be IPv6).
pub fn check6(c: &Checker, f: &[u8]) -> Verdict {
    // Offset of the inner packet: TUN carries it after a 40-byte outer header.
    let mut o = 0;
    if let Expect::Tun6 { reals, src } = &c.expect {
        let Some(outer) = f.get(IP6..IP6 + 40) else {
            return Verdict::Wrong(Wrong::Truncated);
        };
        let plen = usize::from(u16::from_be_bytes([outer[4], outer[5]]));
        if outer[0] >> 4 != 6
            || outer[6] != 41
            || outer[7] != HOP_LIMIT
            || IP6 + 40 + plen > f.len()
            || ipv6(&outer[8..]) != *src
            || !reals.contains(&ipv6(&outer[24..]))
        {
            return Verdict::Wrong(Wrong::Outer);
        }
        o = 40;
    }
    let (ip, tcp_at) = (IP6 + o, IP6 + o + 40);
    if f.len() < tcp_at + 20 {
        return Verdict::Wrong(Wrong::Truncated);
    }
    if f[ip] >> 4 != 6 || f[ip + 6] != 6 {
        return Verdict::Other;
    }
    if matches!(c.expect, Expect::Nat64 { .. }) {
        // NAT64 sends IPv4 to the reals: an IPv6 TCP frame back is untranslated.
        return Verdict::Wrong(Wrong::Destination);
    }
    let plen = usize::from(u16::from_be_bytes([f[ip + 4], f[ip + 5]]));
    if plen < 20 || tcp_at + plen > f.len() {
        return Verdict::Wrong(Wrong::Truncated);
    }
    if f[0..6] != c.dst_mac || f[6..12] != c.src_mac {
        return Verdict::Wrong(Wrong::Mac);
    }
    let want_hops = match c.expect {
        Expect::Nat6 { .. } => HOP_LIMIT - 1,
        _ => HOP_LIMIT,
    };
    if f[ip + 7] != want_hops {
        return Verdict::Wrong(Wrong::Ttl);
    }
    let src = ipv6(&f[ip + 8..]);
    let dst = ipv6(&f[ip + 24..]);
    let tcp = &f[tcp_at..tcp_at + plen];
    let sport = u16::from_be_bytes([tcp[0], tcp[1]]);
    let dport = u16::from_be_bytes([tcp[2], tcp[3]]);
    let dst_ok = match &c.expect {
        Expect::Nat6 { reals, port } => dport == *port && reals.contains(&dst),
        _ => dport == c.sent_to.vport && IpAddr::V6(dst) == c.sent_to.vip,
    };
    if !dst_ok {
        return Verdict::Wrong(Wrong::Destination);
    }
    let flow = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
    if crate::flows::flow_of6(src, sport) != Some(flow) {
        return Verdict::Wrong(Wrong::Source);
    }
    if checksum::l4_checksum_v6(&src, &dst, 6, tcp) != 0 {
        return Verdict::Wrong(Wrong::TcpChecksum);
    }
    match stamp6(tcp) {
        Some(stamp) => Verdict::Good {
            flow,
            stamp,
            syn: tcp[13] & crate::frame::SYN != 0,
        },
        None => Verdict::Wrong(Wrong::Truncated),
    }
}

/// Checks one frame of a NAT64 run: an IPv4/TCP frame from `src` to one of `reals` on `port`,
/// translated from what the generator sent (TCP header as sent but for the source port, which
/// is one of the appliance's; the stamp where `frame6` put it).
pub fn check64(c: &Checker, f: &[u8], reals: &[Ipv4Addr], port: u16, src: Ipv4Addr) -> Verdict {
    const IP: usize = crate::frame::IP;
    if f.len() < 14 || f[12..14] != ether_type::IPV4.to_be_bytes() {
        return Verdict::Other;
    }
    if f.len() < IP + 40 {
        return Verdict::Wrong(Wrong::Truncated);
    }
    if f[IP] != 0x45 || f[IP + 9] != 6 {
        return Verdict::Other;
    }
    let len = usize::from(u16::from_be_bytes([f[IP + 2], f[IP + 3]]));
    if len < 40 || IP + len > f.len() {
        return Verdict::Wrong(Wrong::Truncated);
    }
    if f[0..6] != c.dst_mac || f[6..12] != c.src_mac {
        return Verdict::Wrong(Wrong::Mac);
    }
    if f[IP + 8] != HOP_LIMIT - 1 {
        return Verdict::Wrong(Wrong::Ttl);
    }
    if checksum::checksum(&f[IP..IP + 20]) != 0 {
        return Verdict::Wrong(Wrong::IpChecksum);
    }
    let s = Ipv4Addr::new(f[IP + 12], f[IP + 13], f[IP + 14], f[IP + 15]);
    let d = Ipv4Addr::new(f[IP + 16], f[IP + 17], f[IP + 18], f[IP + 19]);
    let tcp = &f[IP + 20..IP + len];
    if u16::from_be_bytes([tcp[2], tcp[3]]) != port || !reals.contains(&d) {
        return Verdict::Wrong(Wrong::Destination);
    }
    if s != src {
        return Verdict::Wrong(Wrong::Source);
    }
    if checksum::l4_checksum_v4(s, d, 6, tcp) != 0 {
        return Verdict::Wrong(Wrong::TcpChecksum);
    }
    match stamp6(tcp) {
        Some(stamp) => Verdict::Good {
            flow: u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]),
            stamp,
            syn: tcp[13] & crate::frame::SYN != 0,
        },
        None => Verdict::Wrong(Wrong::Truncated),
    }
}

#[inline]
fn ipv6(b: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[..16]);
    Ipv6Addr::from(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{write_tcp, Target, ACK_PSH, SYN};
    use crate::frame6::TCP6;

    const APP_INT: [u8; 6] = [2, 0, 0, 0, 0, 2];
    const GEN_INT: [u8; 6] = [2, 0, 0, 0, 1, 2];

    fn target() -> Target {
        Target {
            src_mac: [2, 0, 0, 0, 1, 1],
            dst_mac: [2, 0, 0, 0, 0, 1],
            vip: "2001:2::100".parse::<Ipv6Addr>().unwrap().into(),
            vport: 80,
        }
    }

    fn reals() -> Vec<Ipv6Addr> {
        (0x11..0x15)
            .map(|i| Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, i))
            .collect()
    }

    fn checker(expect: Expect) -> Checker {
        Checker {
            expect,
            dst_mac: GEN_INT,
            src_mac: APP_INT,
            sent_to: target(),
        }
    }

    fn nat66_checker() -> Checker {
        checker(Expect::Nat6 {
            reals: reals(),
            port: 80,
        })
    }

    /// What a correct NAT66 does: new MACs, destination, hop limit, TCP checksum.
    fn nat66(buf: &mut [u8], real: Ipv6Addr) {
        buf[0..6].copy_from_slice(&GEN_INT);
        buf[6..12].copy_from_slice(&APP_INT);
        buf[IP6 + 7] -= 1;
        buf[IP6 + 24..IP6 + 40].copy_from_slice(&real.octets());
        let src = ipv6(&buf[IP6 + 8..]);
        buf[TCP6 + 16..TCP6 + 18].fill(0);
        let c = checksum::l4_checksum_v6(&src, &real, 6, &buf[TCP6..]);
        buf[TCP6 + 16..TCP6 + 18].copy_from_slice(&c.to_be_bytes());
    }

    fn sent(len: usize, flow: u32, flags: u8) -> Vec<u8> {
        let mut b = vec![0; len];
        assert!(write_tcp(&mut b, &target(), flow, flags, 999));
        b
    }

    #[test]
    fn good_and_wrong_nat66() {
        let c = nat66_checker();
        for len in [74, 566, 1514] {
            let mut b = sent(len, 4242, ACK_PSH);
            nat66(&mut b, reals()[2]);
            assert_eq!(
                c.check(&b),
                Verdict::Good {
                    flow: 4242,
                    stamp: 999,
                    syn: false
                }
            );
        }
        let mut b = sent(74, 1, SYN);
        nat66(&mut b, reals()[0]);
        assert!(matches!(c.check(&b), Verdict::Good { syn: true, .. }));

        let b = sent(74, 7, ACK_PSH);
        assert_eq!(c.check(&b), Verdict::Wrong(Wrong::Mac));
        let mut x = b.clone();
        nat66(&mut x, Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0x99));
        assert_eq!(c.check(&x), Verdict::Wrong(Wrong::Destination));
        let mut x = b.clone();
        nat66(&mut x, reals()[1]);
        x[IP6 + 7] += 1;
        assert_eq!(c.check(&x), Verdict::Wrong(Wrong::Ttl));
        let mut x = b.clone();
        nat66(&mut x, reals()[1]);
        x[TCP6 + 8] ^= 1; // the stamp changed after the checksum
        assert_eq!(c.check(&x), Verdict::Wrong(Wrong::TcpChecksum));
        let mut x = b.clone();
        x[TCP6] ^= 0x80;
        nat66(&mut x, reals()[1]);
        assert_eq!(c.check(&x), Verdict::Wrong(Wrong::Source));
        let mut x = b.clone();
        nat66(&mut x, reals()[1]);
        assert_eq!(c.check(&x[..70]), Verdict::Wrong(Wrong::Truncated));
        // An ICMPv6 frame (neighbour discovery): not ours.
        let mut nd = x.clone();
        nd[IP6 + 6] = 58;
        assert_eq!(c.check(&nd), Verdict::Other);
    }

    /// What a correct NAT64 does to a 74-byte IPv6 frame: a 54-byte IPv4 one, our address and
    /// port as the source, the real as the destination, TTL = hop limit - 1.
    fn nat64(b: &[u8], ours: Ipv4Addr, lport: u16, real: Ipv4Addr) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&GEN_INT);
        v.extend_from_slice(&APP_INT);
        v.extend_from_slice(&[0x08, 0x00]);
        let tcp_len = b.len() - TCP6;
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&((20 + tcp_len) as u16).to_be_bytes());
        ip[8] = b[IP6 + 7] - 1;
        ip[9] = 6;
        ip[12..16].copy_from_slice(&ours.octets());
        ip[16..20].copy_from_slice(&real.octets());
        let c = checksum::checksum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        v.extend_from_slice(&ip);
        let mut tcp = b[TCP6..].to_vec();
        tcp[0..2].copy_from_slice(&lport.to_be_bytes());
        tcp[16..18].fill(0);
        let c = checksum::l4_checksum_v4(ours, real, 6, &tcp);
        tcp[16..18].copy_from_slice(&c.to_be_bytes());
        v.extend_from_slice(&tcp);
        v
    }

    #[test]
    fn nat64_frames() {
        let reals4: Vec<Ipv4Addr> = (11..15).map(|i| Ipv4Addr::new(198, 19, 0, i)).collect();
        let ours = Ipv4Addr::new(198, 19, 0, 1);
        let c = checker(Expect::Nat64 {
            reals: reals4.clone(),
            port: 80,
            src: ours,
        });
        let b = sent(74, 33, ACK_PSH);
        let good = nat64(&b, ours, 40000, reals4[1]);
        assert_eq!(good.len(), 54);
        assert_eq!(
            c.check(&good),
            Verdict::Good {
                flow: 33,
                stamp: 999,
                syn: false
            }
        );
        let mut x = nat64(&b, Ipv4Addr::new(198, 19, 0, 2), 40000, reals4[1]);
        assert_eq!(c.check(&x), Verdict::Wrong(Wrong::Source));
        x = nat64(&b, ours, 40000, Ipv4Addr::new(198, 19, 0, 99));
        assert_eq!(c.check(&x), Verdict::Wrong(Wrong::Destination));
        x = good.clone();
        x[14 + 20 + 9] ^= 1; // the stamp changed after the checksum
        assert_eq!(c.check(&x), Verdict::Wrong(Wrong::TcpChecksum));
        x = good.clone();
        x[14 + 10] ^= 1;
        assert_eq!(c.check(&x), Verdict::Wrong(Wrong::IpChecksum));
        // The untranslated IPv6 frame (new MACs) is checked as IPv6 and fails.
        let mut v6 = b.clone();
        v6[0..6].copy_from_slice(&GEN_INT);
        v6[6..12].copy_from_slice(&APP_INT);
        assert_eq!(c.check(&v6), Verdict::Wrong(Wrong::Destination));
    }

    #[test]
    fn dr6_and_tun6() {
        let c = checker(Expect::Dr);
        let mut b = sent(74, 5, ACK_PSH);
        assert_eq!(c.check(&b), Verdict::Wrong(Wrong::Mac));
        b[0..6].copy_from_slice(&GEN_INT);
        b[6..12].copy_from_slice(&APP_INT);
        assert!(matches!(c.check(&b), Verdict::Good { flow: 5, .. }));
        let mut nat_ed = b.clone();
        nat66(&mut nat_ed, reals()[0]);
        assert_eq!(c.check(&nat_ed), Verdict::Wrong(Wrong::Ttl));

        let director = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 1);
        let c = checker(Expect::Tun6 {
            reals: reals(),
            src: director,
        });
        let mut outer = [0u8; 40];
        outer[0] = 0x60;
        outer[4..6].copy_from_slice(&((b.len() - 14) as u16).to_be_bytes());
        outer[6] = 41;
        outer[7] = 64;
        outer[8..24].copy_from_slice(&director.octets());
        outer[24..40].copy_from_slice(&reals()[3].octets());
        let mut t = b[..14].to_vec();
        t.extend_from_slice(&outer);
        t.extend_from_slice(&b[14..]);
        assert_eq!(
            c.check(&t),
            Verdict::Good {
                flow: 5,
                stamp: 999,
                syn: false
            }
        );
        t[IP6 + 39] = 0x99; // outer destination not a real
        assert_eq!(c.check(&t), Verdict::Wrong(Wrong::Outer));
        assert_eq!(c.check(&b), Verdict::Wrong(Wrong::Outer));
    }
}
