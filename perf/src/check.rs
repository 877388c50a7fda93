//! Checking what the appliance sends back against the rewrite its mode promises.
//!
//! NAT (client -> VIP, checked on the real-server side): destination one of the reals, port the
//! real's port, source (client address and port) unchanged, TTL decremented, IP and TCP
//! checksums valid, MACs from the appliance's int port to the real's neighbour entry. The
//! baseline (MAC swap): the frame as sent with source and destination MAC swapped. DR: the
//! frame as sent with new MACs. TUN: an outer IPv4 header to a real, the frame as sent inside.
//! IPv6 frames are checked by `check6` the same way (NAT66, DR, TUN over IPv6).

use crate::frame::{self, Target, IP, PAYLOAD, STAMP_LEN, TCP, TTL};
use dataplane::wire::{checksum, ether_type};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The rewrite a run expects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// VS-NAT: the destination becomes one of `reals` (all on `port`).
    Nat { reals: Vec<Ipv4Addr>, port: u16 },
    /// L2 MAC swap (the baseline): nothing above Ethernet changes.
    MacSwap,
    /// VS-DR: only the MACs change (towards a real's neighbour entry).
    Dr,
    /// VS-TUN: an outer IPv4 header (protocol 4, TTL 64) from `src` to one of `reals`; the
    /// inner packet unchanged.
    Tun { reals: Vec<Ipv4Addr>, src: Ipv4Addr },
    /// NAT66: the destination becomes one of `reals` (all on `port`), hop limit decremented.
    Nat6 { reals: Vec<Ipv6Addr>, port: u16 },
    /// TUN over IPv6: an outer IPv6 header (next header 41, hop limit 64) from `src` to one of
    /// `reals`; the inner packet unchanged.
    Tun6 { reals: Vec<Ipv6Addr>, src: Ipv6Addr },
    /// NAT64 (IPv6 frames sent, IPv4 frames back): IPv4 from the appliance's address `src` (a
    /// port of its own) to one of `reals` on `port`, TTL = hop limit - 1, the TCP header
    /// otherwise as sent (flow number and stamp).
    Nat64 {
        reals: Vec<Ipv4Addr>,
        port: u16,
        src: Ipv4Addr,
    },
}

/// Why a returned frame is wrong (an index into the wrong-counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Wrong {
    Truncated,
    Mac,
    Ttl,
    IpChecksum,
    Destination,
    Source,
    TcpChecksum,
    Outer,
}

impl Wrong {
    pub const COUNT: usize = 8;
    pub const NAMES: [&'static str; Wrong::COUNT] = [
        "truncated",
        "mac",
        "ttl",
        "ip_checksum",
        "destination",
        "source",
        "tcp_checksum",
        "outer_header",
    ];
}

/// The outcome of checking one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// As expected: the flow number and the send stamp.
    Good {
        flow: u32,
        stamp: u64,
        syn: bool,
    },
    Wrong(Wrong),
    /// Not an IPv4/TCP frame (ARP, gratuitous ARP): not ours, ignored.
    Other,
}

/// Checks frames arriving on one generator port.
#[derive(Clone, Debug)]
pub struct Checker {
    pub expect: Expect,
    /// The MACs a correct frame carries (destination: our port; source: the appliance's).
    pub dst_mac: [u8; 6],
    pub src_mac: [u8; 6],
    /// What the generator sent to (for the baseline: unchanged).
    pub sent_to: Target,
}

impl Checker {
    pub fn check(&self, f: &[u8]) -> Verdict {
        if f.len() >= 14 && f[12..14] == ether_type::IPV6.to_be_bytes() {
            return crate::check6::check6(self, f);
        }
        if let Expect::Nat64 { reals, port, src } = &self.expect {
            return crate::check6::check64(self, f, reals, *port, *src);
        }
        if f.len() < 14 || f[12..14] != ether_type::IPV4.to_be_bytes() {
            return Verdict::Other;
        }
        if f.len() < 15 {
            return Verdict::Wrong(Wrong::Truncated);
        }
        // Offset of the inner packet: TUN carries it after a 20-byte outer header.
        let mut o = 0;
        if let Expect::Tun { reals, src } = &self.expect {
            if f.len() < IP + 20 {
                return Verdict::Wrong(Wrong::Truncated);
            }
            let outer = &f[IP..IP + 20];
            let len = usize::from(u16::from_be_bytes([outer[2], outer[3]]));
            if outer[0] != 0x45
                || outer[9] != 4
                || outer[8] != 64
                || IP + len > f.len()
                || checksum::checksum(outer) != 0
                || ipv4(&outer[12..]) != *src
                || !reals.contains(&ipv4(&outer[16..]))
            {
                return Verdict::Wrong(Wrong::Outer);
            }
            o = 20;
        }
        let (ip, tcp_at) = (IP + o, TCP + o);
        if f.len() < PAYLOAD + o + STAMP_LEN {
            return Verdict::Wrong(Wrong::Truncated);
        }
        if f[ip] != 0x45 || f[ip + 9] != 6 {
            return Verdict::Other;
        }
        let ip_len = usize::from(u16::from_be_bytes([f[ip + 2], f[ip + 3]]));
        if ip_len < 40 + STAMP_LEN || ip + ip_len > f.len() {
            return Verdict::Wrong(Wrong::Truncated);
        }
        if f[0..6] != self.dst_mac || f[6..12] != self.src_mac {
            return Verdict::Wrong(Wrong::Mac);
        }
        let want_ttl = match self.expect {
            Expect::Nat { .. } => TTL - 1,
            _ => TTL,
        };
        if f[ip + 8] != want_ttl {
            return Verdict::Wrong(Wrong::Ttl);
        }
        if checksum::checksum(&f[ip..tcp_at]) != 0 {
            return Verdict::Wrong(Wrong::IpChecksum);
        }
        let src = ipv4(&f[ip + 12..]);
        let dst = ipv4(&f[ip + 16..]);
        let tcp = &f[tcp_at..ip + ip_len];
        let sport = u16::from_be_bytes([tcp[0], tcp[1]]);
        let dport = u16::from_be_bytes([tcp[2], tcp[3]]);
        let dst_ok = match &self.expect {
            Expect::Nat { reals, port } => dport == *port && reals.contains(&dst),
            _ => dport == self.sent_to.vport && IpAddr::V4(dst) == self.sent_to.vip,
        };
        if !dst_ok {
            return Verdict::Wrong(Wrong::Destination);
        }
        let flow = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
        if crate::flows::flow_of(src, sport) != Some(flow) {
            return Verdict::Wrong(Wrong::Source);
        }
        if checksum::l4_checksum_v4(src, dst, 6, tcp) != 0 {
            return Verdict::Wrong(Wrong::TcpChecksum);
        }
        match frame::stamp(&f[o..]) {
            Some(stamp) => Verdict::Good {
                flow,
                stamp,
                syn: tcp[13] & frame::SYN != 0,
            },
            None => Verdict::Wrong(Wrong::Truncated),
        }
    }
}

#[inline]
fn ipv4(b: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{write_tcp, ACK_PSH, SYN};

    const APP_INT: [u8; 6] = [2, 0, 0, 0, 0, 2];
    const GEN_INT: [u8; 6] = [2, 0, 0, 0, 1, 2];

    fn target() -> Target {
        Target {
            src_mac: [2, 0, 0, 0, 1, 1],
            dst_mac: [2, 0, 0, 0, 0, 1],
            vip: Ipv4Addr::new(198, 18, 0, 100).into(),
            vport: 80,
        }
    }

    fn reals() -> Vec<Ipv4Addr> {
        (11..15).map(|i| Ipv4Addr::new(198, 19, 0, i)).collect()
    }

    fn nat_checker() -> Checker {
        Checker {
            expect: Expect::Nat {
                reals: reals(),
                port: 80,
            },
            dst_mac: GEN_INT,
            src_mac: APP_INT,
            sent_to: target(),
        }
    }

    /// What a correct NAT does to a frame: new MACs, destination, TTL, full checksums.
    fn nat(buf: &mut [u8], real: Ipv4Addr) {
        buf[0..6].copy_from_slice(&GEN_INT);
        buf[6..12].copy_from_slice(&APP_INT);
        buf[IP + 8] -= 1;
        buf[IP + 16..IP + 20].copy_from_slice(&real.octets());
        buf[IP + 10..IP + 12].fill(0);
        let c = checksum::checksum(&buf[IP..TCP]);
        buf[IP + 10..IP + 12].copy_from_slice(&c.to_be_bytes());
        let src = ipv4(&buf[IP + 12..]);
        buf[TCP + 16..TCP + 18].fill(0);
        let c = checksum::l4_checksum_v4(src, real, 6, &buf[TCP..]);
        buf[TCP + 16..TCP + 18].copy_from_slice(&c.to_be_bytes());
    }

    fn sent(len: usize, flow: u32, flags: u8) -> Vec<u8> {
        let mut b = vec![0; len];
        assert!(write_tcp(&mut b, &target(), flow, flags, 999));
        b
    }

    #[test]
    fn good_nat() {
        for len in [60, 566, 1514] {
            let mut b = sent(len, 4242, ACK_PSH);
            nat(&mut b, reals()[2]);
            assert_eq!(
                nat_checker().check(&b),
                Verdict::Good {
                    flow: 4242,
                    stamp: 999,
                    syn: false
                }
            );
        }
        let mut b = sent(60, 1, SYN);
        nat(&mut b, reals()[0]);
        assert!(matches!(
            nat_checker().check(&b),
            Verdict::Good { syn: true, .. }
        ));
    }

    #[test]
    fn wrong_nat() {
        let c = nat_checker();
        let b = sent(60, 7, ACK_PSH);
        // Not rewritten at all: MACs are wrong first.
        assert_eq!(c.check(&b), Verdict::Wrong(Wrong::Mac));
        // A destination that is not a real.
        let mut x = b.clone();
        nat(&mut x, Ipv4Addr::new(198, 19, 0, 99));
        assert_eq!(c.check(&x), Verdict::Wrong(Wrong::Destination));
        // TTL not decremented (checksum made consistent).
        let mut x = b.clone();
        nat(&mut x, reals()[1]);
        x[IP + 8] += 1;
        assert_eq!(c.check(&x), Verdict::Wrong(Wrong::Ttl));
        // Stale IP checksum.
        let mut x = b.clone();
        nat(&mut x, reals()[1]);
        x[IP + 10] ^= 1;
        assert_eq!(c.check(&x), Verdict::Wrong(Wrong::IpChecksum));
        // Stale TCP checksum (payload byte flipped).
        let mut x = b.clone();
        nat(&mut x, reals()[1]);
        x[PAYLOAD + 1] ^= 0x40;
        assert_eq!(c.check(&x), Verdict::Wrong(Wrong::TcpChecksum));
        // Source port changed.
        let mut x = b.clone();
        x[TCP] ^= 0x80;
        nat(&mut x, reals()[1]);
        assert_eq!(c.check(&x), Verdict::Wrong(Wrong::Source));
        // Truncated and foreign frames.
        let mut x = b.clone();
        nat(&mut x, reals()[1]);
        assert_eq!(c.check(&x[..50]), Verdict::Wrong(Wrong::Truncated));
        let arp = [0u8; 60];
        let mut arp = arp.to_vec();
        arp[12..14].copy_from_slice(&ether_type::ARP.to_be_bytes());
        assert_eq!(c.check(&arp), Verdict::Other);
    }

    #[test]
    fn dr_and_tun() {
        let mut c = nat_checker();
        c.expect = Expect::Dr;
        let mut b = sent(60, 5, ACK_PSH);
        assert_eq!(c.check(&b), Verdict::Wrong(Wrong::Mac));
        b[0..6].copy_from_slice(&GEN_INT);
        b[6..12].copy_from_slice(&APP_INT);
        assert!(matches!(c.check(&b), Verdict::Good { flow: 5, .. }));
        let mut nat_ed = b.clone();
        nat(&mut nat_ed, reals()[0]);
        assert_eq!(c.check(&nat_ed), Verdict::Wrong(Wrong::Ttl));

        let director = Ipv4Addr::new(198, 19, 0, 1);
        c.expect = Expect::Tun {
            reals: reals(),
            src: director,
        };
        let mut outer = [0u8; 20];
        outer[0] = 0x45;
        outer[2..4].copy_from_slice(&((b.len() - 14 + 20) as u16).to_be_bytes());
        outer[8] = 64;
        outer[9] = 4;
        outer[12..16].copy_from_slice(&director.octets());
        outer[16..20].copy_from_slice(&reals()[3].octets());
        let cs = checksum::checksum(&outer);
        outer[10..12].copy_from_slice(&cs.to_be_bytes());
        let mut t = b[..14].to_vec();
        t.extend_from_slice(&outer);
        t.extend_from_slice(&b[14..]);
        assert!(matches!(
            c.check(&t),
            Verdict::Good {
                flow: 5,
                stamp: 999,
                ..
            }
        ));
        t[IP + 19] = 99; // outer destination not a real
        assert_eq!(c.check(&t), Verdict::Wrong(Wrong::Outer));
        assert_eq!(c.check(&b), Verdict::Wrong(Wrong::Outer));
    }

    #[test]
    fn mac_swap() {
        let t = target();
        let c = Checker {
            expect: Expect::MacSwap,
            dst_mac: t.src_mac,
            src_mac: t.dst_mac,
            sent_to: t,
        };
        let mut b = sent(566, 9, ACK_PSH);
        assert_eq!(c.check(&b), Verdict::Wrong(Wrong::Mac));
        let (d, s) = b.split_at_mut(6);
        d.swap_with_slice(&mut s[..6]);
        assert!(matches!(c.check(&b), Verdict::Good { flow: 9, .. }));
    }
}
