//! NAT64 frames for the fixture and replay tests (the IPv4 side of `packets6.rs`'s `web64`
//! service): IPv4 headers with every field chosen (the translated packets carry the other
//! family's values), ICMPv4 errors with their 4 header bytes, and a config with a UDP NAT64
//! service beside `web64`. Checksums computed from scratch, so a translated frame can be
//! compared byte for byte.
#![allow(dead_code)]

use super::packets6::config6;
use dataplane::wire::checksum;
use std::net::Ipv4Addr;

/// The appliance's own address on `int`: where NAT64 connections come from.
pub fn lb4() -> Ipv4Addr {
    Ipv4Addr::new(198, 19, 0, 1)
}
/// `web64`'s (and `dns64`'s) IPv4 real.
pub fn real4() -> Ipv4Addr {
    Ipv4Addr::new(198, 19, 0, 11)
}
/// A router on the reals' side.
pub fn router4() -> Ipv4Addr {
    Ipv4Addr::new(198, 19, 0, 254)
}

/// `config6` and `dns64`: UDP 5300 on the IPv6 VIP over the IPv4 real's port 53 (NAT64).
pub fn config64() -> String {
    config6()
        + "  - {name: dns64, vip: \"2001:db8::100\", port: 5300, protocol: udp, forward: nat,\n     \
           reals: [{ip: 198.19.0.11, port: 53}]}\n"
}

/// An IPv4 header: `frag` is the flags and offset word (0x4000 DF, 0x2000 MF, offset in
/// 8-byte units), checksum filled.
#[allow(clippy::too_many_arguments)]
pub fn ipv4_header(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    ttl: u8,
    tos: u8,
    ident: u16,
    frag: u16,
    payload_len: usize,
) -> Vec<u8> {
    let mut h = vec![0u8; 20];
    h[0] = 0x45;
    h[1] = tos;
    h[2..4].copy_from_slice(&((20 + payload_len) as u16).to_be_bytes());
    h[4..6].copy_from_slice(&ident.to_be_bytes());
    h[6..8].copy_from_slice(&frag.to_be_bytes());
    h[8] = ttl;
    h[9] = proto;
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    let c = checksum::checksum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h
}

/// An Ethernet frame (no padding) around `l3`.
pub fn eth(dst_mac: [u8; 6], src_mac: [u8; 6], ethertype: u16, l3: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(l3);
    f
}

/// An ICMPv4 error (type, code, the 4 bytes after the checksum) quoting `quoted` whole,
/// checksum filled.
pub fn icmp4_error(ty: u8, code: u8, rest: [u8; 4], quoted: &[u8]) -> Vec<u8> {
    let mut i = vec![ty, code, 0, 0];
    i.extend_from_slice(&rest);
    i.extend_from_slice(quoted);
    let c = checksum::checksum(&i);
    i[2..4].copy_from_slice(&c.to_be_bytes());
    i
}

/// A TCP/UDP segment `l4` with its checksum filled for `src` -> `dst` over IPv4.
pub fn with_checksum4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut l4 = l4.to_vec();
    let at = if proto == 6 { 16 } else { 6 };
    l4[at..at + 2].copy_from_slice(&[0, 0]);
    let c = checksum::l4_checksum_v4(src, dst, proto, &l4);
    let c = if proto == 17 {
        checksum::udp_field(c)
    } else {
        c
    };
    l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
    l4
}
