//! The Internet checksum (RFC 1071), pseudo-header sums, and incremental updates (RFC 1624).
//!
//! Sums are kept as folded 16-bit one's-complement values (`u16`, not yet inverted); a checksum
//! field holds the inverted sum. NAT rewrites addresses and ports and fixes the IP and TCP/UDP
//! checksums with the `update_*` functions instead of summing the whole packet again.
//!
//! Incremental updates use RFC 1624 equation 3, `HC' = ~(~HC + ~m + m')`, which never turns a
//! checksum computed from real data into 0xffff, so an updated checksum is bit-identical to a
//! full recomputation (the property tests check this).

use std::net::{Ipv4Addr, Ipv6Addr};

/// Folds a wide one's-complement accumulator down to 16 bits (end-around carry).
#[inline]
pub fn fold(mut acc: u64) -> u16 {
    // Each step at least halves the width, so four steps always finish; no data-dependent loop.
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    acc as u16
}

/// One's-complement sum of `data` as big-endian 16-bit words (odd tail padded with a zero byte).
///
/// Reads 8 bytes at a time into a `u64` accumulator as two 32-bit halves, which cannot overflow
/// for any buffer under 16 GiB, and folds once at the end.
#[inline]
pub fn sum(data: &[u8]) -> u16 {
    fold(sum_wide(data))
}

/// The unfolded accumulator behind [`sum`]; exposed so callers can add several pieces cheaply.
#[inline]
pub fn sum_wide(data: &[u8]) -> u64 {
    let mut a: u64 = 0;
    let mut b: u64 = 0;
    let mut chunks = data.chunks_exact(16);
    for c in &mut chunks {
        let mut w0 = [0u8; 8];
        let mut w1 = [0u8; 8];
        w0.copy_from_slice(&c[..8]);
        w1.copy_from_slice(&c[8..]);
        let w0 = u64::from_be_bytes(w0);
        let w1 = u64::from_be_bytes(w1);
        a += (w0 >> 32) + (w0 & 0xffff_ffff);
        b += (w1 >> 32) + (w1 & 0xffff_ffff);
    }
    let mut rest = chunks.remainder();
    while rest.len() >= 2 {
        a += u64::from(u16::from_be_bytes([rest[0], rest[1]]));
        rest = &rest[2..];
    }
    if let Some(&last) = rest.first() {
        a += u64::from(last) << 8;
    }
    a + b
}

/// One's-complement addition of two folded sums.
#[inline]
pub fn add(a: u16, b: u16) -> u16 {
    fold(u64::from(a) + u64::from(b))
}

/// The checksum field value for `data` (inverted sum).
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !sum(data)
}

/// Sum of the IPv4 pseudo-header used by TCP and UDP (and not by ICMPv4).
#[inline]
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, l4_len: u16) -> u16 {
    let s = u32::from(src);
    let d = u32::from(dst);
    fold(
        u64::from(s >> 16)
            + u64::from(s & 0xffff)
            + u64::from(d >> 16)
            + u64::from(d & 0xffff)
            + u64::from(protocol)
            + u64::from(l4_len),
    )
}

/// Sum of the IPv6 pseudo-header (RFC 8200 section 8.1) used by TCP, UDP and ICMPv6.
#[inline]
pub fn pseudo_header_v6(src: &Ipv6Addr, dst: &Ipv6Addr, next_header: u8, l4_len: u32) -> u16 {
    fold(
        sum_wide(&src.octets())
            + sum_wide(&dst.octets())
            + u64::from(l4_len >> 16)
            + u64::from(l4_len & 0xffff)
            + u64::from(next_header),
    )
}

/// Checksum field for an L4 segment over IPv4: pseudo-header plus the segment (whose checksum
/// field must be zero, or hold the old value when verifying).
#[inline]
pub fn l4_checksum_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, segment: &[u8]) -> u16 {
    let len = segment.len() as u16;
    !fold(u64::from(pseudo_header_v4(src, dst, protocol, len)) + sum_wide(segment))
}

/// Checksum field for an L4 segment over IPv6.
#[inline]
pub fn l4_checksum_v6(src: &Ipv6Addr, dst: &Ipv6Addr, next_header: u8, segment: &[u8]) -> u16 {
    let len = segment.len() as u32;
    !fold(u64::from(pseudo_header_v6(src, dst, next_header, len)) + sum_wide(segment))
}

/// RFC 1624 update of `csum` after a 16-bit word changed from `old` to `new`.
///
/// The word must sit at an even offset from the start of the checksummed data; for an odd
/// offset pass both values through `u16::swap_bytes`.
#[inline]
pub fn update_u16(csum: u16, old: u16, new: u16) -> u16 {
    !fold(u64::from(!csum) + u64::from(!old) + u64::from(new))
}

/// RFC 1624 update after a 32-bit value (two aligned words, e.g. an IPv4 address) changed.
#[inline]
pub fn update_u32(csum: u16, old: u32, new: u32) -> u16 {
    let old = !old;
    !fold(
        u64::from(!csum)
            + u64::from(old >> 16)
            + u64::from(old & 0xffff)
            + u64::from(new >> 16)
            + u64::from(new & 0xffff),
    )
}

/// RFC 1624 update after an IPv4 address changed (IP header checksum, or a TCP/UDP checksum
/// through the pseudo-header).
#[inline]
pub fn update_addr(csum: u16, old: Ipv4Addr, new: Ipv4Addr) -> u16 {
    update_u32(csum, u32::from(old), u32::from(new))
}

/// RFC 1624 update of a TCP/UDP checksum after NAT changed both an address (pseudo-header)
/// and the port on the same side, in one fold.
#[inline]
pub fn update_addr_port(
    csum: u16,
    old_addr: Ipv4Addr,
    new_addr: Ipv4Addr,
    old_port: u16,
    new_port: u16,
) -> u16 {
    let oa = !u32::from(old_addr);
    let na = u32::from(new_addr);
    !fold(
        u64::from(!csum)
            + u64::from(oa >> 16)
            + u64::from(oa & 0xffff)
            + u64::from(na >> 16)
            + u64::from(na & 0xffff)
            + u64::from(!old_port)
            + u64::from(new_port),
    )
}

/// RFC 1624 update after a run of aligned bytes (e.g. an IPv6 address) changed from `old` to
/// `new`; the two slices are summed independently so they may even differ in length.
#[inline]
pub fn update_bytes(csum: u16, old: &[u8], new: &[u8]) -> u16 {
    !fold(u64::from(!csum) + u64::from(!sum(old)) + sum_wide(new))
}

/// RFC 1624 update of a TCP/UDP checksum after NAT66 changed an IPv6 address (through the
/// pseudo-header) and the port on the same side, in one fold.
#[inline]
pub fn update_addr6_port(
    csum: u16,
    old_addr: &Ipv6Addr,
    new_addr: &Ipv6Addr,
    old_port: u16,
    new_port: u16,
) -> u16 {
    !fold(
        u64::from(!csum)
            + u64::from(!sum(&old_addr.octets()))
            + sum_wide(&new_addr.octets())
            + u64::from(!old_port)
            + u64::from(new_port),
    )
}

/// Applies an update to a UDP checksum, honouring its special values: a zero checksum means
/// "none" (IPv4) and stays zero; a computed zero is sent as 0xffff (RFC 768).
///
/// `update_udp(c, |c| update_addr_port(c, ..))`.
#[inline]
pub fn update_udp(csum: u16, update: impl FnOnce(u16) -> u16) -> u16 {
    if csum == 0 {
        return 0;
    }
    match update(csum) {
        0 => 0xffff,
        c => c,
    }
}

/// The value to store for a freshly computed UDP checksum (0 is transmitted as 0xffff).
#[inline]
pub fn udp_field(computed: u16) -> u16 {
    if computed == 0 {
        0xffff
    } else {
        computed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Straightforward RFC 1071 reference: add 16-bit words one at a time.
    fn reference_sum(data: &[u8]) -> u16 {
        let mut acc: u32 = 0;
        for c in data.chunks(2) {
            let w = if c.len() == 2 {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from(c[0]) << 8
            };
            acc += u32::from(w);
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc as u16
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&data), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn ipv4_header_checksum_of_a_real_header() {
        // 45 00 00 3c 1c 46 40 00 40 06 [b1 e6] ac 10 0a 63 ac 10 0a 0c: the classic example
        // header (addresses aside) whose checksum is 0xb1e6.
        let mut h = [
            0x45, 0x00, 0x00, 0x3c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00, 0xac, 0x10,
            0x0a, 0x63, 0xac, 0x10, 0x0a, 0x0c,
        ];
        assert_eq!(checksum(&h), 0xb1e6);
        h[10..12].copy_from_slice(&0xb1e6u16.to_be_bytes());
        assert_eq!(
            sum(&h),
            0xffff,
            "a header with its checksum sums to all ones"
        );
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(sum(&[0x12]), 0x1200);
        assert_eq!(sum(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
    }

    #[test]
    fn matches_reference_on_many_lengths() {
        let data: Vec<u8> = (0..200u32)
            .map(|i| (i.wrapping_mul(197) ^ 0xa5) as u8)
            .collect();
        for n in 0..data.len() {
            assert_eq!(sum(&data[..n]), reference_sum(&data[..n]), "len {n}");
        }
        let ones = [0xffu8; 100];
        for n in 0..ones.len() {
            assert_eq!(sum(&ones[..n]), reference_sum(&ones[..n]), "ones len {n}");
        }
    }

    #[test]
    fn pseudo_header_v4_by_hand() {
        let src = Ipv4Addr::new(198, 18, 0, 1);
        let dst = Ipv4Addr::new(203, 0, 113, 10);
        let bytes = [198, 18, 0, 1, 203, 0, 113, 10, 0, 6, 0, 40];
        assert_eq!(pseudo_header_v4(src, dst, 6, 40), reference_sum(&bytes));
    }

    #[test]
    fn pseudo_header_v6_by_hand() {
        let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let dst: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&src.octets());
        bytes.extend_from_slice(&dst.octets());
        bytes.extend_from_slice(&70000u32.to_be_bytes());
        bytes.extend_from_slice(&[0, 0, 0, 58]);
        assert_eq!(
            pseudo_header_v6(&src, &dst, 58, 70000),
            reference_sum(&bytes)
        );
    }

    #[test]
    fn update_u16_matches_recompute() {
        let mut data = [0x45u8, 0, 0, 0x54, 0x12, 0x34, 0, 0, 0x40, 0x01, 0, 0];
        let c = checksum(&data);
        data[8] = 0x3f; // TTL 64 -> 63: word 0x4001 -> 0x3f01
        assert_eq!(update_u16(c, 0x4001, 0x3f01), checksum(&data));
    }

    #[test]
    fn update_odd_offset_with_swapped_bytes() {
        let mut data = [1u8, 2, 3, 4, 5, 6, 7, 8];
        let c = checksum(&data);
        // The 16-bit value at offset 3 (bytes 4,5) straddles two words.
        let old = u16::from_be_bytes([data[3], data[4]]);
        data[3] = 0xab;
        data[4] = 0xcd;
        let new = 0xabcd;
        assert_eq!(
            update_u16(c, old.swap_bytes(), u16::swap_bytes(new)),
            checksum(&data)
        );
    }

    #[test]
    fn update_addr_port_matches_two_steps() {
        let a = Ipv4Addr::new(192, 0, 2, 1);
        let b = Ipv4Addr::new(198, 51, 100, 7);
        let c = 0x1234;
        let two = update_u16(update_addr(c, a, b), 80, 8080);
        assert_eq!(update_addr_port(c, a, b, 80, 8080), two);
    }

    #[test]
    fn update_bytes_equals_update_u32() {
        let c = 0xbeef;
        assert_eq!(
            update_bytes(c, &[192, 0, 2, 1], &[203, 0, 113, 9]),
            update_u32(c, 0xc000_0201, 0xcb00_7109)
        );
    }

    #[test]
    fn update_addr6_port_matches_recompute() {
        let a: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let b: Ipv6Addr = "2001:db8:2::20".parse().unwrap();
        let seg = [
            0x9c, 0x40, 0x00, 0x50, 1, 2, 3, 4, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff,
        ];
        let before = l4_checksum_v6(&a, &a, 6, &seg);
        let mut seg2 = seg;
        seg2[2..4].copy_from_slice(&8080u16.to_be_bytes());
        let after = l4_checksum_v6(&a, &b, 6, &seg2);
        assert_eq!(update_addr6_port(before, &a, &b, 80, 8080), after);
    }

    #[test]
    fn udp_zero_rules() {
        assert_eq!(update_udp(0, |c| update_u16(c, 1, 2)), 0);
        // ~0x0001 + ~0x0000 + 0x0001 = 0xfffe + 0xffff + 1 folds to 0xffff, whose inverse is 0:
        // a plain update yields 0, which UDP must send as 0xffff.
        assert_eq!(update_u16(0x0001, 0, 1), 0);
        assert_eq!(update_udp(0x0001, |c| update_u16(c, 0, 1)), 0xffff);
        assert_eq!(udp_field(0), 0xffff);
        assert_eq!(udp_field(0x1234), 0x1234);
    }
}
