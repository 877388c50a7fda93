//! Neighbor Discovery (RFC 4861) messages the appliance speaks instead of ARP on IPv6:
//! Neighbor Solicitation and Advertisement with their source/target link-layer address
//! options, recognised Router Advertisements (ignored: the appliance takes static routes), and
//! the multicast addresses ND sends to.
//!
//! The view is over the ICMPv6 message (from its type byte). What needs the IPv6 header (hop
//! limit 255, the checksum, the unspecified source of duplicate address detection) is checked
//! by the caller that has it (`lb::forward::ndp`).

use std::net::Ipv6Addr;

use super::bytes::be32;
use super::error::WireError;
use super::icmpv6::icmpv6_type;
use super::mac::MacAddr;

/// Router Solicitation and Advertisement, Redirect: recognised, never answered.
pub const ROUTER_SOLICIT: u8 = 133;
pub const ROUTER_ADVERT: u8 = 134;
pub const REDIRECT: u8 = 137;

/// NS and NA: the 8-byte ICMPv6 header (type, code, checksum, flags/reserved) and the target.
pub const NS_NA_LEN: usize = 24;

/// A link-layer address option for Ethernet: type, length 1 (8 bytes), the MAC.
pub const LLADDR_OPT_LEN: usize = 8;

/// Option types (RFC 4861 4.6).
pub mod option_type {
    pub const SOURCE_LLADDR: u8 = 1;
    pub const TARGET_LLADDR: u8 = 2;
}

/// Neighbor Advertisement flags (the first byte after the checksum).
pub mod na_flags {
    pub const ROUTER: u8 = 0x80;
    pub const SOLICITED: u8 = 0x40;
    pub const OVERRIDE: u8 = 0x20;
}

/// Hop limit every ND message is sent with and must arrive with (RFC 4861 7.1.1: proof that
/// it was not forwarded by a router).
pub const ND_HOP_LIMIT: u8 = 255;

/// All-nodes multicast (ff02::1): where unsolicited advertisements go.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// The solicited-node multicast address of `a` (ff02::1:ffXX:XXXX, RFC 4291 2.7.1): where a
/// solicitation for `a` is sent.
pub fn solicited_node(a: &Ipv6Addr) -> Ipv6Addr {
    let o = a.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from_be_bytes([o[14], o[15]]),
    )
}

/// The Ethernet address of IPv6 multicast group `a`: 33:33 and its last 32 bits (RFC 2464 7).
pub fn multicast_mac(a: &Ipv6Addr) -> MacAddr {
    let o = a.octets();
    MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

/// What a Neighbor Discovery message says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NdpRepr {
    /// Who has `target`? The asker's MAC when it gave one (not in duplicate address detection).
    Solicit {
        target: Ipv6Addr,
        source_mac: Option<MacAddr>,
    },
    /// `target` is at `target_mac` (when given).
    Advert {
        target: Ipv6Addr,
        target_mac: Option<MacAddr>,
        router: bool,
        solicited: bool,
        override_: bool,
    },
    /// A Router Solicitation, Router Advertisement or Redirect: well-formed, ignored.
    Router,
}

/// A view of an ND message (the whole ICMPv6 message).
#[derive(Debug, Clone)]
pub struct NdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

/// Bytes before the options of an ND message of type `t` (RFC 4861 4.1-4.5); `None` for a
/// type that is not ND.
fn fixed_len(t: u8) -> Option<usize> {
    match t {
        icmpv6_type::NEIGHBOR_SOLICIT | icmpv6_type::NEIGHBOR_ADVERT => Some(NS_NA_LEN),
        ROUTER_SOLICIT => Some(8),
        ROUTER_ADVERT => Some(16),
        REDIRECT => Some(40),
        _ => None,
    }
}

impl<T: AsRef<[u8]>> NdpPacket<T> {
    /// Checks the type is an ND one, code 0, the fixed part is present (24 bytes for NS/NA),
    /// the target of NS/NA is not multicast, and the options are well formed: each at least 8
    /// bytes (length field not 0) and inside the message (RFC 4861 7.1.1).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        let (&t, &code) = match b {
            [t, c, ..] => (t, c),
            _ => return Err(WireError::Truncated),
        };
        let fixed = fixed_len(t).ok_or(WireError::Unsupported)?;
        if b.len() < fixed {
            return Err(WireError::Truncated);
        }
        if code != 0 {
            return Err(WireError::Malformed);
        }
        let p = NdpPacket { buffer };
        if fixed == NS_NA_LEN && p.target().is_multicast() {
            return Err(WireError::Malformed);
        }
        let mut opts = &p.buffer.as_ref()[fixed..];
        while let [_, len, ..] = opts {
            let n = usize::from(*len) * 8;
            if n == 0 {
                return Err(WireError::Malformed);
            }
            opts = opts.get(n..).ok_or(WireError::Truncated)?;
        }
        if !opts.is_empty() {
            return Err(WireError::Truncated);
        }
        Ok(p)
    }

    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    /// NA flags byte (R, S, O).
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[4]
    }

    /// The target address of an NS or NA (bytes 8..24; only call on those types).
    pub fn target(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[8..24]);
        Ipv6Addr::from(a)
    }

    /// The first Ethernet link-layer address option of `kind` (an option of another length,
    /// for another link type, is skipped). The walk starts where this message type's options
    /// start, as the check's did.
    pub fn lladdr_option(&self, kind: u8) -> Option<MacAddr> {
        let fixed = fixed_len(self.msg_type())?;
        let mut opts = self.buffer.as_ref().get(fixed..)?;
        while let [t, len, ..] = opts {
            let n = usize::from(*len) * 8;
            if n == 0 {
                // A zero-length option makes the message invalid (RFC 4861 4.6), and would
                // never advance this walk.
                return None;
            }
            let opt = opts.get(..n)?;
            if *t == kind && n == LLADDR_OPT_LEN {
                return MacAddr::from_bytes(&opt[2..8]);
            }
            opts = &opts[n..];
        }
        None
    }

    /// The reserved word of an NS / the flags word of an NA, whole (for tests).
    pub fn flags_word(&self) -> u32 {
        be32(self.buffer.as_ref(), 4)
    }
}

impl NdpRepr {
    /// What the checked message says.
    pub fn parse<T: AsRef<[u8]>>(p: &NdpPacket<T>) -> NdpRepr {
        match p.msg_type() {
            icmpv6_type::NEIGHBOR_SOLICIT => NdpRepr::Solicit {
                target: p.target(),
                source_mac: p.lladdr_option(option_type::SOURCE_LLADDR),
            },
            icmpv6_type::NEIGHBOR_ADVERT => {
                let f = p.flags();
                NdpRepr::Advert {
                    target: p.target(),
                    target_mac: p.lladdr_option(option_type::TARGET_LLADDR),
                    router: f & na_flags::ROUTER != 0,
                    solicited: f & na_flags::SOLICITED != 0,
                    override_: f & na_flags::OVERRIDE != 0,
                }
            }
            _ => NdpRepr::Router,
        }
    }

    /// Bytes [`NdpRepr::emit`] writes: 24, and 8 for a link-layer option.
    pub fn buffer_len(&self) -> usize {
        match self {
            NdpRepr::Solicit { source_mac: m, .. } | NdpRepr::Advert { target_mac: m, .. } => {
                NS_NA_LEN + if m.is_some() { LLADDR_OPT_LEN } else { 0 }
            }
            NdpRepr::Router => 0,
        }
    }

    /// Writes an NS or NA with a zero checksum (the caller fills it with the IPv6 addresses);
    /// returns its length. `Unsupported` for [`NdpRepr::Router`] (never sent), `Truncated` when
    /// `buf` is shorter than [`NdpRepr::buffer_len`].
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let (t, flags, target, opt) = match *self {
            NdpRepr::Solicit { target, source_mac } => (
                icmpv6_type::NEIGHBOR_SOLICIT,
                0,
                target,
                source_mac.map(|m| (option_type::SOURCE_LLADDR, m)),
            ),
            NdpRepr::Advert {
                target,
                target_mac,
                router,
                solicited,
                override_,
            } => {
                let flags = if router { na_flags::ROUTER } else { 0 }
                    | if solicited { na_flags::SOLICITED } else { 0 }
                    | if override_ { na_flags::OVERRIDE } else { 0 };
                (
                    icmpv6_type::NEIGHBOR_ADVERT,
                    flags,
                    target,
                    target_mac.map(|m| (option_type::TARGET_LLADDR, m)),
                )
            }
            NdpRepr::Router => return Err(WireError::Unsupported),
        };
        let n = self.buffer_len();
        let b = buf.get_mut(..n).ok_or(WireError::Truncated)?;
        b[..8].copy_from_slice(&[t, 0, 0, 0, flags, 0, 0, 0]);
        b[8..24].copy_from_slice(&target.octets());
        if let Some((kind, mac)) = opt {
            b[24] = kind;
            b[25] = 1;
            b[26..32].copy_from_slice(&mac.octets());
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum;
    use crate::wire::ip_proto;

    /// A Neighbor Solicitation from fe80::1 (MAC 02:00:00:00:00:11) for 2001:db8::10, as Linux
    /// sends it to ff02::1:ff00:10: ICMPv6 message with its checksum, byte for byte.
    const NS: [u8; 32] = [
        0x87, 0x00, 0x4b, 0x33, 0x00, 0x00, 0x00, 0x00, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00,
        0x00, 0x11,
    ];

    fn addr(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn the_option_walk_starts_after_the_message_types_fixed_part() {
        // A Router Solicitation (fixed part 8 bytes) whose one option (type 1, 3 x 8 bytes)
        // holds [1, 0] at offset 24, where the NS/NA option walk starts. A walk from 24 met
        // a zero-length option and looped for ever (found by prop_no_panic); from 8 it finds
        // a source-address option of another length, skipped.
        let mut m = [0u8; 32];
        m[0] = 133;
        m[8] = 1;
        m[9] = 3;
        m[24] = 1;
        let p = NdpPacket::new_checked(&m[..]).unwrap();
        assert_eq!(p.lladdr_option(1), None);
        // An RS with an Ethernet source-address option right after its 8 bytes: found there.
        let rs = [
            133u8, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0x02, 0x00, 0x00, 0x00, 0x00, 0x11,
        ];
        let p = NdpPacket::new_checked(&rs[..]).unwrap();
        assert_eq!(
            p.lladdr_option(option_type::SOURCE_LLADDR),
            MacAddr::from_bytes(&[0x02, 0, 0, 0, 0, 0x11])
        );
    }

    #[test]
    fn a_literal_solicitation() {
        let target = addr("2001:db8::10");
        let (src, dst) = (addr("fe80::1"), solicited_node(&target));
        assert_eq!(dst, addr("ff02::1:ff00:10"));
        assert_eq!(
            checksum::l4_checksum_v6(&src, &dst, ip_proto::ICMPV6, &NS),
            0,
            "literal checksum"
        );
        let p = NdpPacket::new_checked(&NS[..]).unwrap();
        assert_eq!(
            NdpRepr::parse(&p),
            NdpRepr::Solicit {
                target,
                source_mac: Some(MacAddr([2, 0, 0, 0, 0, 0x11]))
            }
        );
        let mut out = [0u8; 32];
        assert_eq!(NdpRepr::parse(&p).emit(&mut out), Ok(32));
        out[2..4].copy_from_slice(&NS[2..4]);
        assert_eq!(out, NS);
    }

    #[test]
    fn advertisement_round_trip_and_flags() {
        let r = NdpRepr::Advert {
            target: addr("2001:db8::10"),
            target_mac: Some(MacAddr([2, 0, 0, 0, 0, 0xaa])),
            router: false,
            solicited: true,
            override_: true,
        };
        let mut b = [0u8; 32];
        assert_eq!(r.emit(&mut b), Ok(32));
        assert_eq!(b[..8], [136, 0, 0, 0, 0x60, 0, 0, 0]);
        assert_eq!(b[24..26], [2, 1]);
        let p = NdpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(NdpRepr::parse(&p), r);
        assert_eq!(p.flags_word(), 0x6000_0000);
        assert_eq!(r.emit(&mut [0u8; 31]), Err(WireError::Truncated));
        // Without the option: 24 bytes, no MAC.
        let bare = NdpRepr::Advert {
            target: addr("2001:db8::10"),
            target_mac: None,
            router: true,
            solicited: false,
            override_: false,
        };
        assert_eq!(bare.emit(&mut b), Ok(24));
        assert_eq!(b[4], na_flags::ROUTER);
        let p = NdpPacket::new_checked(&b[..24]).unwrap();
        assert_eq!(NdpRepr::parse(&p), bare);
        assert_eq!(NdpRepr::Router.emit(&mut b), Err(WireError::Unsupported));
    }

    #[test]
    fn checks() {
        assert_eq!(
            NdpPacket::new_checked(&NS[..23]).err(),
            Some(WireError::Truncated)
        );
        let mut code = NS;
        code[1] = 1;
        assert_eq!(
            NdpPacket::new_checked(&code[..]).err(),
            Some(WireError::Malformed)
        );
        let mut zero_opt = NS;
        zero_opt[25] = 0;
        assert_eq!(
            NdpPacket::new_checked(&zero_opt[..]).err(),
            Some(WireError::Malformed)
        );
        let mut long_opt = NS;
        long_opt[25] = 2;
        assert_eq!(
            NdpPacket::new_checked(&long_opt[..]).err(),
            Some(WireError::Truncated)
        );
        assert_eq!(
            NdpPacket::new_checked(&NS[..30]).err(),
            Some(WireError::Truncated)
        );
        let mut mcast = NS;
        mcast[8] = 0xff;
        assert_eq!(
            NdpPacket::new_checked(&mcast[..]).err(),
            Some(WireError::Malformed)
        );
        let mut echo = NS;
        echo[0] = 128;
        assert_eq!(
            NdpPacket::new_checked(&echo[..]).err(),
            Some(WireError::Unsupported)
        );
        // A Router Advertisement (16 bytes + a prefix option) is recognised and ignored.
        let mut ra = vec![134u8, 0, 0, 0, 64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0];
        ra.extend([3, 4]);
        ra.extend([0u8; 30]);
        let p = NdpPacket::new_checked(&ra[..]).unwrap();
        assert_eq!(NdpRepr::parse(&p), NdpRepr::Router);
        // An option of another length is skipped when looking for the MAC.
        let mut other = NS.to_vec();
        other[25] = 2;
        other.extend([0u8; 8]);
        let p = NdpPacket::new_checked(&other[..]).unwrap();
        assert_eq!(p.lladdr_option(option_type::SOURCE_LLADDR), None);
    }

    #[test]
    fn multicast_addresses() {
        let a = addr("2001:db8:1:2:3:4:5678:9abc");
        assert_eq!(solicited_node(&a), addr("ff02::1:ff78:9abc"));
        assert_eq!(
            multicast_mac(&solicited_node(&a)),
            MacAddr([0x33, 0x33, 0xff, 0x78, 0x9a, 0xbc])
        );
        assert_eq!(multicast_mac(&ALL_NODES), MacAddr([0x33, 0x33, 0, 0, 0, 1]));
    }
}
