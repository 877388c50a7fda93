//! Address families: what the family-generic parts of `lb/` (connection table, flow key, flow
//! ownership, service key, routes, neighbours) need to know about an address, behind one trait.
//!
//! A family is named by its address type: [`Ipv4Addr`] and [`Ipv6Addr`] implement [`Family`],
//! and the generic types default to IPv4 (`ConnTable` is `ConnTable<Ipv4Addr>`, `FlowKey` is
//! `FlowKey<Ipv4Addr>`), so the IPv4 path keeps its names and, after monomorphisation, its code:
//! the IPv4 impl is exactly the arithmetic the table and the owner function did before the split
//! (u32 addresses in the entry, the same two-round hash, the same owner word).
//!
//! IPv6 is a second instantiation beside IPv4, not a union: an IPv4 connection entry stays 52
//! bytes because nothing in it is sized for 128-bit addresses; an IPv6 entry stores its three
//! addresses as `[u32; 4]` (alignment 4, so no padding: the entry is 88 bytes, 96 with its index).

use std::fmt::{Debug, Display};
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::BitAnd;

/// The splitmix64 / murmur3 `fmix64` finaliser: a bijective 64-bit mixer (every input bit
/// reaches every output bit in two multiply-xorshift rounds).
#[inline]
pub(crate) fn fmix64(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// An IP address family, implemented by its address type.
pub trait Family:
    Copy + Eq + Ord + Hash + Debug + Display + Into<IpAddr> + Send + Sync + Unpin + 'static
{
    /// The address as an integer, for prefixes and masks (`u32`, `u128`).
    type Bits: Copy + Eq + Hash + Debug + Default + BitAnd<Output = Self::Bits> + Send + Sync;
    /// The address as a connection entry stores it: `u32` for IPv4 (the entry stays 52 bytes),
    /// `[u32; 4]` for IPv6 (alignment 4, so no padding grows the entry).
    type Stored: Copy + Eq + Debug + Send + Sync;
    /// The services' index key for (protocol, address, port): one `u64` for IPv4.
    type ServiceWord: Copy + Eq + Hash + Debug + Send + Sync;

    /// Bits in an address (the longest prefix).
    const BITS: u8;
    /// The stored form of the unspecified address (free entries).
    const STORED_ZERO: Self::Stored;

    fn to_bits(self) -> Self::Bits;
    fn from_bits(b: Self::Bits) -> Self;
    fn store(self) -> Self::Stored;
    fn load(s: Self::Stored) -> Self;

    /// The mask of a prefix length; lengths above [`Family::BITS`] count as `BITS`.
    fn prefix_mask(len: u8) -> Self::Bits;

    /// Hash of a connection-table key: two stored addresses and the ports + protocol packed in
    /// `rest` (at most 48 bits), under a per-table `seed`.
    fn hash_key(seed: u64, a: Self::Stored, b: Self::Stored, rest: u64) -> u64;

    /// The mixed hash that picks the owner worker of a client `addr:port` (unseeded: every
    /// worker and every restart agrees on it).
    fn owner_hash(addr: Self, port: u16) -> u64;
    /// The owner hash of a persistent client: only `addr & mask` counts, and it never equals
    /// an [`Family::owner_hash`] input.
    fn owner_hash_masked(addr: Self, mask: Self::Bits) -> u64;

    /// The services' index key of (protocol number, address, port).
    fn service_word(proto: u8, addr: Self, port: u16) -> Self::ServiceWord;
}

impl Family for Ipv4Addr {
    type Bits = u32;
    type Stored = u32;
    type ServiceWord = u64;
    const BITS: u8 = 32;
    const STORED_ZERO: u32 = 0;

    #[inline]
    fn to_bits(self) -> u32 {
        u32::from(self)
    }
    #[inline]
    fn from_bits(b: u32) -> Self {
        Ipv4Addr::from(b)
    }
    #[inline]
    fn store(self) -> u32 {
        u32::from(self)
    }
    #[inline]
    fn load(s: u32) -> Self {
        Ipv4Addr::from(s)
    }

    #[inline]
    fn prefix_mask(len: u8) -> u32 {
        crate::config::prefix_mask(len)
    }

    /// The 96-bit key as a 64-bit word of both addresses and a 48-bit word of the rest:
    /// `fmix64(fmix64(addrs ^ seed) ^ rest)`.
    #[inline]
    fn hash_key(seed: u64, a: u32, b: u32, rest: u64) -> u64 {
        let addrs = (u64::from(a) << 32) | u64::from(b);
        fmix64(fmix64(addrs ^ seed) ^ rest)
    }

    #[inline]
    fn owner_hash(addr: Self, port: u16) -> u64 {
        // The masked variant sets bit 63, which this word never has: the two never alias.
        fmix64((u64::from(u32::from(addr)) << 16) | u64::from(port))
    }

    #[inline]
    fn owner_hash_masked(addr: Self, mask: u32) -> u64 {
        fmix64((1u64 << 63) | u64::from(u32::from(addr) & mask))
    }

    #[inline]
    fn service_word(proto: u8, addr: Self, port: u16) -> u64 {
        (u64::from(proto) << 48) | (u64::from(u32::from(addr)) << 16) | u64::from(port)
    }
}

/// The two 64-bit halves of an IPv6 address (network half first).
#[inline]
fn halves(a: u128) -> (u64, u64) {
    ((a >> 64) as u64, a as u64)
}

impl Family for Ipv6Addr {
    type Bits = u128;
    type Stored = [u32; 4];
    type ServiceWord = (u128, u32);
    const BITS: u8 = 128;
    const STORED_ZERO: [u32; 4] = [0; 4];

    #[inline]
    fn to_bits(self) -> u128 {
        u128::from(self)
    }
    #[inline]
    fn from_bits(b: u128) -> Self {
        Ipv6Addr::from(b)
    }
    #[inline]
    fn store(self) -> [u32; 4] {
        let b = u128::from(self);
        [
            (b >> 96) as u32,
            (b >> 64) as u32,
            (b >> 32) as u32,
            b as u32,
        ]
    }
    #[inline]
    fn load(s: [u32; 4]) -> Self {
        Ipv6Addr::from(
            (u128::from(s[0]) << 96)
                | (u128::from(s[1]) << 64)
                | (u128::from(s[2]) << 32)
                | u128::from(s[3]),
        )
    }

    #[inline]
    fn prefix_mask(len: u8) -> u128 {
        match len.min(128) {
            0 => 0,
            l => u128::MAX << (128 - u32::from(l)),
        }
    }

    /// Absorbs the four 64-bit halves and `rest` one `fmix64` round each. Each round is a
    /// bijection of the running state xor the next word, so two keys that differ in one word
    /// never collide fully: a client choosing the low 64 bits of its address (its own /64) cannot
    /// aim at one chain without knowing the seed.
    #[inline]
    fn hash_key(seed: u64, a: [u32; 4], b: [u32; 4], rest: u64) -> u64 {
        let w = |s: [u32; 4], i: usize| (u64::from(s[i]) << 32) | u64::from(s[i + 1]);
        let mut h = fmix64(seed ^ w(a, 0));
        h = fmix64(h ^ w(a, 2));
        h = fmix64(h ^ w(b, 0));
        h = fmix64(h ^ w(b, 2));
        fmix64(h ^ rest)
    }

    #[inline]
    fn owner_hash(addr: Self, port: u16) -> u64 {
        let (hi, lo) = halves(u128::from(addr));
        fmix64(fmix64(fmix64(hi) ^ lo) ^ u64::from(port))
    }

    #[inline]
    fn owner_hash_masked(addr: Self, mask: u128) -> u64 {
        let (hi, lo) = halves(u128::from(addr) & mask);
        // Bit 63 of the last word tells it from `owner_hash`, whose last word is a port.
        fmix64(fmix64(fmix64(hi) ^ lo) ^ (1u64 << 63))
    }

    #[inline]
    fn service_word(proto: u8, addr: Self, port: u16) -> (u128, u32) {
        (u128::from(addr), (u32::from(proto) << 16) | u32::from(port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_store_load_and_masks() {
        let a = Ipv4Addr::new(198, 51, 100, 7);
        assert_eq!(a.store(), 0xC633_6407);
        assert_eq!(Ipv4Addr::load(a.store()), a);
        assert_eq!(Ipv4Addr::prefix_mask(0), 0);
        assert_eq!(Ipv4Addr::prefix_mask(24), 0xFFFF_FF00);
        assert_eq!(Ipv4Addr::prefix_mask(32), u32::MAX);
        assert_eq!(Ipv4Addr::prefix_mask(33), u32::MAX);
    }

    #[test]
    fn v6_store_load_and_masks() {
        let a: Ipv6Addr = "2001:db8:1:2:3:4:5:6".parse().unwrap();
        assert_eq!(
            a.store(),
            [0x2001_0db8, 0x0001_0002, 0x0003_0004, 0x0005_0006]
        );
        assert_eq!(Ipv6Addr::load(a.store()), a);
        assert_eq!(Ipv6Addr::prefix_mask(0), 0);
        assert_eq!(Ipv6Addr::prefix_mask(32), 0xFFFF_FFFFu128 << 96);
        assert_eq!(Ipv6Addr::prefix_mask(64), u128::from(u64::MAX) << 64);
        assert_eq!(Ipv6Addr::prefix_mask(128), u128::MAX);
        assert_eq!(Ipv6Addr::prefix_mask(200), u128::MAX);
        assert_eq!(Ipv6Addr::load(Ipv6Addr::STORED_ZERO), Ipv6Addr::UNSPECIFIED);
    }

    /// The IPv4 hash is the one the table used before the family split (computed by hand from
    /// the old `hash2(seed, client << 32 | vip, cport << 32 | vport << 16 | proto)`).
    #[test]
    fn v4_hash_is_the_old_hash() {
        let old = |seed: u64, a: u64, b: u64| fmix64(fmix64(a ^ seed) ^ b);
        let (c, v) = (0xC612_0001u32, 0xC612_0064u32);
        let rest = (1024u64 << 32) | (80u64 << 16) | 6;
        let seed = 0x6C62_2D63_6F6E_6E31;
        assert_eq!(
            Ipv4Addr::hash_key(seed, c, v, rest),
            old(seed, (u64::from(c) << 32) | u64::from(v), rest)
        );
    }

    #[test]
    fn v6_hash_depends_on_every_word() {
        let a: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let b: Ipv6Addr = "2001:db8::100".parse().unwrap();
        let base = Ipv6Addr::hash_key(1, a.store(), b.store(), 0x50_0006);
        for i in 0..4 {
            let mut x = a.store();
            x[i] ^= 1;
            assert_ne!(Ipv6Addr::hash_key(1, x, b.store(), 0x50_0006), base);
            let mut y = b.store();
            y[i] ^= 0x8000_0000;
            assert_ne!(Ipv6Addr::hash_key(1, a.store(), y, 0x50_0006), base);
        }
        assert_ne!(Ipv6Addr::hash_key(1, a.store(), b.store(), 0x51_0006), base);
        assert_ne!(Ipv6Addr::hash_key(2, a.store(), b.store(), 0x50_0006), base);
        // Swapping the two addresses is a different key.
        assert_ne!(Ipv6Addr::hash_key(1, b.store(), a.store(), 0x50_0006), base);
    }

    #[test]
    fn service_words_tell_keys_apart() {
        let v4 = Ipv4Addr::new(198, 18, 0, 100);
        assert_ne!(
            Ipv4Addr::service_word(6, v4, 80),
            Ipv4Addr::service_word(17, v4, 80)
        );
        let v6: Ipv6Addr = "2001:db8::100".parse().unwrap();
        assert_ne!(
            Ipv6Addr::service_word(6, v6, 80),
            Ipv6Addr::service_word(6, v6, 0)
        );
        assert_ne!(
            Ipv6Addr::service_word(6, v6, 80),
            Ipv6Addr::service_word(17, v6, 80)
        );
    }
}
