//! Hashing of the two lookup keys. A seeded multiply-xorshift (the splitmix64 / murmur3 `fmix64`
//! finaliser applied to the key folded into 64 bits): a few cycles, every key bit reaches every
//! bucket bit, and a per-table random seed keeps remote clients from aiming at one chain.

use std::net::Ipv4Addr;

#[inline]
fn fmix64(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Hash of a 96-bit key given as a 64-bit and a 48-bit half.
#[inline]
fn hash2(seed: u64, a: u64, b: u64) -> u64 {
    fmix64(fmix64(a ^ seed) ^ b)
}

/// Inbound key: (proto, client, client port, vip, vip port).
#[inline]
pub(super) fn hash_in(seed: u64, proto: u8, client: u32, cport: u16, vip: u32, vport: u16) -> u64 {
    let a = (u64::from(client) << 32) | u64::from(vip);
    let b = (u64::from(cport) << 32) | (u64::from(vport) << 16) | u64::from(proto);
    hash2(seed, a, b)
}

/// Reply key: (proto, real address, real port, client, client port).
#[inline]
pub(super) fn hash_out(
    seed: u64,
    proto: u8,
    real: u32,
    rport: u16,
    client: u32,
    cport: u16,
) -> u64 {
    let a = (u64::from(real) << 32) | u64::from(client);
    let b = (u64::from(rport) << 32) | (u64::from(cport) << 16) | u64::from(proto);
    hash2(seed, a, b)
}

#[inline]
pub(super) fn ip(a: Ipv4Addr) -> u32 {
    u32::from(a)
}
