//! TCP segment headers (RFC 9293): ports, sequence numbers, flags, options.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::bytes::{be16, be32, set_be16, set_be32};
use super::checksum;
use super::error::WireError;
use super::ip_proto;

/// Length of a TCP header without options.
pub const HEADER_LEN: usize = 20;

/// The flag bits of byte 13.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: TcpFlags = TcpFlags(0x01);
    pub const SYN: TcpFlags = TcpFlags(0x02);
    pub const RST: TcpFlags = TcpFlags(0x04);
    pub const PSH: TcpFlags = TcpFlags(0x08);
    pub const ACK: TcpFlags = TcpFlags(0x10);
    pub const URG: TcpFlags = TcpFlags(0x20);
    pub const ECE: TcpFlags = TcpFlags(0x40);
    pub const CWR: TcpFlags = TcpFlags(0x80);

    /// All bits of `other` are set.
    pub fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [&str; 8] = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"];
        let mut first = true;
        for (i, name) in NAMES.iter().enumerate() {
            if self.0 & (1 << i) != 0 {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("-")?;
        }
        Ok(())
    }
}

/// Option kinds.
pub mod option_kind {
    pub const END: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WINDOW_SCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMPS: u8 = 8;
}

/// One TCP option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpOption<'a> {
    Nop,
    Mss(u16),
    WindowScale(u8),
    SackPermitted,
    /// SACK blocks, raw (pairs of 32-bit edges).
    Sack(&'a [u8]),
    Timestamps {
        value: u32,
        echo: u32,
    },
    Unknown {
        kind: u8,
        data: &'a [u8],
    },
}

/// Iterates the options area; stops at End-of-list, and after yielding one `Malformed` error.
#[derive(Clone, Debug)]
pub struct TcpOptions<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> TcpOptions<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        TcpOptions { data, pos: 0 }
    }

    /// The next option with its offset inside the options area.
    pub(crate) fn next_at(&mut self) -> Option<Result<(usize, TcpOption<'a>), WireError>> {
        let at = self.pos;
        let kind = *self.data.get(at)?;
        match kind {
            option_kind::END => {
                self.pos = self.data.len();
                return None;
            }
            option_kind::NOP => {
                self.pos += 1;
                return Some(Ok((at, TcpOption::Nop)));
            }
            _ => {}
        }
        // Every other option is kind, length (including both), data.
        let len = match self.data.get(at + 1) {
            Some(&l) if l >= 2 && at + usize::from(l) <= self.data.len() => usize::from(l),
            _ => return self.fail(),
        };
        let d = &self.data[at + 2..at + len];
        let opt = match (kind, d.len()) {
            (option_kind::MSS, 2) => TcpOption::Mss(be16(d, 0)),
            (option_kind::WINDOW_SCALE, 1) => TcpOption::WindowScale(d[0]),
            (option_kind::SACK_PERMITTED, 0) => TcpOption::SackPermitted,
            (option_kind::SACK, n) if n & 7 == 0 => TcpOption::Sack(d),
            (option_kind::TIMESTAMPS, 8) => TcpOption::Timestamps {
                value: be32(d, 0),
                echo: be32(d, 4),
            },
            (
                option_kind::MSS
                | option_kind::WINDOW_SCALE
                | option_kind::SACK_PERMITTED
                | option_kind::SACK
                | option_kind::TIMESTAMPS,
                _,
            ) => return self.fail(),
            (kind, _) => TcpOption::Unknown { kind, data: d },
        };
        self.pos = at + len;
        Some(Ok((at, opt)))
    }

    fn fail<X>(&mut self) -> Option<Result<X, WireError>> {
        self.pos = self.data.len();
        Some(Err(WireError::Malformed))
    }
}

impl<'a> Iterator for TcpOptions<'a> {
    type Item = Result<TcpOption<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_at().map(|r| r.map(|(_, o)| o))
    }
}

/// A view of a TCP segment: the buffer is the whole segment (the IP payload), so the payload
/// runs to its end and the checksum covers all of it.
#[derive(Debug, Clone)]
pub struct TcpSegment<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpSegment<T> {
    /// Checks that the header, options included, fits.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let hl = usize::from(b[12] >> 4) * 4;
        if hl < HEADER_LEN {
            return Err(WireError::BadHeaderLen);
        }
        if b.len() < hl {
            return Err(WireError::Truncated);
        }
        Ok(TcpSegment { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), 0)
    }

    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }

    pub fn seq_number(&self) -> u32 {
        be32(self.buffer.as_ref(), 4)
    }

    pub fn ack_number(&self) -> u32 {
        be32(self.buffer.as_ref(), 8)
    }

    /// Header length in bytes (data offset * 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[12] >> 4) * 4
    }

    pub fn flags(&self) -> TcpFlags {
        TcpFlags(self.buffer.as_ref()[13])
    }

    pub fn fin(&self) -> bool {
        self.flags().contains(TcpFlags::FIN)
    }

    pub fn syn(&self) -> bool {
        self.flags().contains(TcpFlags::SYN)
    }

    pub fn rst(&self) -> bool {
        self.flags().contains(TcpFlags::RST)
    }

    pub fn psh(&self) -> bool {
        self.flags().contains(TcpFlags::PSH)
    }

    pub fn ack(&self) -> bool {
        self.flags().contains(TcpFlags::ACK)
    }

    pub fn urg(&self) -> bool {
        self.flags().contains(TcpFlags::URG)
    }

    pub fn window(&self) -> u16 {
        be16(self.buffer.as_ref(), 14)
    }

    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), 16)
    }

    pub fn urgent_ptr(&self) -> u16 {
        be16(self.buffer.as_ref(), 18)
    }

    fn header_end(&self) -> usize {
        self.header_len().min(self.buffer.as_ref().len())
    }

    /// The raw options area (between the fixed header and the data offset).
    pub fn options_bytes(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        b.get(HEADER_LEN..self.header_end()).unwrap_or(&[])
    }

    pub fn options(&self) -> TcpOptions<'_> {
        TcpOptions::new(self.options_bytes())
    }

    /// The MSS option's value, if present and the options parse up to it.
    pub fn mss(&self) -> Option<u16> {
        self.options().find_map(|o| match o {
            Ok(TcpOption::Mss(m)) => Some(m),
            _ => None,
        })
    }

    pub fn payload(&self) -> &[u8] {
        let s = self.header_end();
        &self.buffer.as_ref()[s..]
    }

    pub fn verify_checksum_v4(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        checksum::l4_checksum_v4(src, dst, ip_proto::TCP, self.buffer.as_ref()) == 0
    }

    pub fn verify_checksum_v6(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        checksum::l4_checksum_v6(src, dst, ip_proto::TCP, self.buffer.as_ref()) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpSegment<T> {
    pub fn set_src_port(&mut self, p: u16) {
        set_be16(self.buffer.as_mut(), 0, p);
    }

    pub fn set_dst_port(&mut self, p: u16) {
        set_be16(self.buffer.as_mut(), 2, p);
    }

    pub fn set_seq_number(&mut self, v: u32) {
        set_be32(self.buffer.as_mut(), 4, v);
    }

    pub fn set_ack_number(&mut self, v: u32) {
        set_be32(self.buffer.as_mut(), 8, v);
    }

    pub fn set_flags(&mut self, f: TcpFlags) {
        self.buffer.as_mut()[13] = f.0;
    }

    pub fn set_window(&mut self, w: u16) {
        set_be16(self.buffer.as_mut(), 14, w);
    }

    pub fn set_checksum(&mut self, c: u16) {
        set_be16(self.buffer.as_mut(), 16, c);
    }

    pub fn set_urgent_ptr(&mut self, u: u16) {
        set_be16(self.buffer.as_mut(), 18, u);
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let s = self.header_end();
        &mut self.buffer.as_mut()[s..]
    }

    pub fn fill_checksum_v4(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let c = checksum::l4_checksum_v4(src, dst, ip_proto::TCP, self.buffer.as_ref());
        self.set_checksum(c);
    }

    pub fn fill_checksum_v6(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        self.set_checksum(0);
        let c = checksum::l4_checksum_v6(src, dst, ip_proto::TCP, self.buffer.as_ref());
        self.set_checksum(c);
    }

    /// NAT: sets the source port with an incremental checksum update; returns the old port.
    pub fn rewrite_src_port(&mut self, new: u16) -> u16 {
        let old = self.src_port();
        self.set_src_port(new);
        self.set_checksum(checksum::update_u16(self.checksum(), old, new));
        old
    }

    /// NAT: sets the destination port with an incremental checksum update.
    pub fn rewrite_dst_port(&mut self, new: u16) -> u16 {
        let old = self.dst_port();
        self.set_dst_port(new);
        self.set_checksum(checksum::update_u16(self.checksum(), old, new));
        old
    }

    /// NAT: fixes the checksum for an IPv4 address changed in the pseudo-header.
    pub fn update_checksum_for_addr(&mut self, old: Ipv4Addr, new: Ipv4Addr) {
        self.set_checksum(checksum::update_addr(self.checksum(), old, new));
    }
}

/// A plain TCP header (with an optional MSS option), for building segments and in tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpRepr {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    pub mss: Option<u16>,
}

impl TcpRepr {
    pub fn parse<T: AsRef<[u8]>>(s: &TcpSegment<T>) -> TcpRepr {
        TcpRepr {
            src_port: s.src_port(),
            dst_port: s.dst_port(),
            seq: s.seq_number(),
            ack: s.ack_number(),
            flags: s.flags(),
            window: s.window(),
            mss: s.mss(),
        }
    }

    pub fn header_len(&self) -> usize {
        if self.mss.is_some() {
            HEADER_LEN + 4
        } else {
            HEADER_LEN
        }
    }

    /// Writes the header with a zero checksum: write the payload after it, then call
    /// `fill_checksum_v4`/`_v6` on the segment view.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let hl = self.header_len();
        let b = buf.get_mut(..hl).ok_or(WireError::Truncated)?;
        set_be16(b, 0, self.src_port);
        set_be16(b, 2, self.dst_port);
        set_be32(b, 4, self.seq);
        set_be32(b, 8, self.ack);
        b[12] = ((hl / 4) as u8) << 4;
        b[13] = self.flags.0;
        set_be16(b, 14, self.window);
        set_be16(b, 16, 0);
        set_be16(b, 18, 0);
        if let Some(m) = self.mss {
            b[20] = option_kind::MSS;
            b[21] = 4;
            set_be16(b, 22, m);
        }
        Ok(hl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);

    /// A Linux-style SYN 40000 -> 80: MSS 1460, SACK permitted, timestamps, NOP, wscale 7.
    /// Checksum 0xc683 over SRC -> DST.
    const SYN: [u8; 40] = [
        0x9c, 0x40, 0x00, 0x50, 0x3b, 0x9a, 0xca, 0x00, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa,
        0xf0, 0xc6, 0x83, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x01,
        0xe2, 0x40, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
    ];

    #[test]
    fn parse_syn() {
        let s = TcpSegment::new_checked(&SYN[..]).unwrap();
        assert_eq!((s.src_port(), s.dst_port()), (40000, 80));
        assert_eq!(s.seq_number(), 1_000_000_000);
        assert_eq!(s.ack_number(), 0);
        assert_eq!(s.header_len(), 40);
        assert!(s.syn() && !s.ack() && !s.fin() && !s.rst() && !s.psh() && !s.urg());
        assert_eq!(format!("{:?}", s.flags()), "SYN");
        assert_eq!(s.window(), 64240);
        assert_eq!(s.urgent_ptr(), 0);
        assert!(s.payload().is_empty());
        assert_eq!(s.mss(), Some(1460));
        let opts: Vec<_> = s.options().collect::<Result<_, _>>().unwrap();
        assert_eq!(
            opts,
            vec![
                TcpOption::Mss(1460),
                TcpOption::SackPermitted,
                TcpOption::Timestamps {
                    value: 123456,
                    echo: 0
                },
                TcpOption::Nop,
                TcpOption::WindowScale(7),
            ]
        );
        assert!(
            s.verify_checksum_v4(SRC, DST),
            "checksum {:#06x}",
            s.checksum()
        );
        assert!(!s.verify_checksum_v4(SRC, Ipv4Addr::new(203, 0, 113, 11)));
    }

    #[test]
    fn header_checks() {
        assert_eq!(
            TcpSegment::new_checked(&SYN[..19]).err(),
            Some(WireError::Truncated)
        );
        assert_eq!(
            TcpSegment::new_checked(&SYN[..39]).err(),
            Some(WireError::Truncated)
        );
        let mut b = SYN;
        b[12] = 0x40;
        assert_eq!(
            TcpSegment::new_checked(&b[..]).err(),
            Some(WireError::BadHeaderLen)
        );
    }

    #[test]
    fn malformed_options_stop_iteration() {
        for bad in [
            &[2u8, 4, 5][..],        // MSS cut short
            &[1, 2, 5, 0xb4][..],    // MSS with length 5 past the end
            &[3, 2][..],             // window scale with no data
            &[1, 1, 0x42, 0, 0][..], // length 0
            &[8, 6, 0, 0, 0, 0][..], // timestamps of the wrong length
            &[5, 6, 1, 2, 3, 4][..], // SACK not a multiple of 8
        ] {
            let v: Vec<_> = TcpOptions::new(bad).collect();
            assert_eq!(v.last(), Some(&Err(WireError::Malformed)), "{bad:?}");
            assert_eq!(v.iter().filter(|o| o.is_err()).count(), 1);
        }
        let v: Vec<_> = TcpOptions::new(&[1, 0, 2, 4, 5, 0xb4]).collect();
        assert_eq!(v, vec![Ok(TcpOption::Nop)], "End stops before the MSS");
        let v: Vec<_> = TcpOptions::new(&[0x99, 3, 7, 5, 10, 1, 2, 3, 4, 5, 6, 7, 8]).collect();
        assert_eq!(
            v,
            vec![
                Ok(TcpOption::Unknown {
                    kind: 0x99,
                    data: &[7]
                }),
                Ok(TcpOption::Sack(&[1, 2, 3, 4, 5, 6, 7, 8]))
            ]
        );
    }

    #[test]
    fn nat_rewrite_matches_full_recompute() {
        let mut b = SYN;
        let mut s = TcpSegment::new_checked(&mut b[..]).unwrap();
        let new_dst = Ipv4Addr::new(198, 51, 100, 20);
        assert_eq!(s.rewrite_dst_port(8080), 80);
        s.update_checksum_for_addr(DST, new_dst);
        let inc = s.checksum();
        s.fill_checksum_v4(SRC, new_dst);
        assert_eq!(s.checksum(), inc);
        assert_eq!(s.rewrite_src_port(1024), 40000);
        assert!(s.verify_checksum_v4(SRC, new_dst));
    }

    #[test]
    fn repr_and_setters() {
        let repr = TcpRepr {
            src_port: 80,
            dst_port: 40000,
            seq: 0xdead_beef,
            ack: 1_000_000_001,
            flags: TcpFlags::SYN | TcpFlags::ACK,
            window: 65160,
            mss: Some(1460),
        };
        let mut b = [0u8; 28];
        assert_eq!(repr.emit(&mut b), Ok(24));
        b[24..].copy_from_slice(b"GET ");
        let mut s = TcpSegment::new_checked(&mut b[..]).unwrap();
        assert_eq!(TcpRepr::parse(&s), repr);
        assert_eq!(s.payload(), b"GET ");
        let v6s: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let v6d: Ipv6Addr = "2001:db8::2".parse().unwrap();
        s.fill_checksum_v6(&v6s, &v6d);
        assert!(s.verify_checksum_v6(&v6s, &v6d));
        s.set_flags(TcpFlags::RST);
        s.set_seq_number(1);
        s.set_ack_number(2);
        s.set_window(3);
        s.set_urgent_ptr(4);
        s.set_src_port(5);
        s.set_dst_port(6);
        s.payload_mut()[0] = b'P';
        assert!(s.rst() && !s.syn());
        assert_eq!(
            (s.seq_number(), s.ack_number(), s.window(), s.urgent_ptr()),
            (1, 2, 3, 4)
        );
        assert_eq!((s.src_port(), s.dst_port()), (5, 6));
        assert_eq!(s.payload(), b"PET ");
        assert_eq!(format!("{:?}", TcpFlags::default()), "-");
        assert_eq!(format!("{:?}", TcpFlags(0x12)), "SYN|ACK");
        assert_eq!(repr.emit(&mut [0u8; 23]), Err(WireError::Truncated));
    }
}
