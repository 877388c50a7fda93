//! Hashing of the two lookup keys, through the address family's [`Family::hash_key`]: a seeded
//! multiply-xorshift (the splitmix64 / murmur3 `fmix64` finaliser over the key folded into
//! 64-bit words): a few cycles, every key bit reaches every bucket bit, and a per-table random
//! seed keeps remote clients from aiming at one chain. For IPv4 this is two rounds over a
//! 64-bit word of both addresses and a 48-bit word of ports and protocol.

use crate::lb::family::Family;

/// Ports and protocol of a key in one word: `(first port << 32) | (second port << 16) | proto`.
#[inline]
fn rest(proto: u8, p1: u16, p2: u16) -> u64 {
    (u64::from(p1) << 32) | (u64::from(p2) << 16) | u64::from(proto)
}

/// Inbound key: (proto, client, client port, vip, vip port).
#[inline]
pub(super) fn hash_in<A: Family>(
    seed: u64,
    proto: u8,
    client: A::Stored,
    cport: u16,
    vip: A::Stored,
    vport: u16,
) -> u64 {
    A::hash_key(seed, client, vip, rest(proto, cport, vport))
}

/// Reply key: (proto, real address, real port, client, client port).
#[inline]
pub(super) fn hash_out<A: Family>(
    seed: u64,
    proto: u8,
    real: A::Stored,
    rport: u16,
    client: A::Stored,
    cport: u16,
) -> u64 {
    A::hash_key(seed, real, client, rest(proto, rport, cport))
}
