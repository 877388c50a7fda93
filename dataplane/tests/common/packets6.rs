//! IPv6 frames for the fixture and replay tests (the IPv6 side of `packets.rs`): every builder
//! computes its checksums from scratch, so a frame the engine rewrote incrementally can be
//! compared byte for byte with the one built as expected. And the two-port dual-stack config
//! they run (`config6`).
#![allow(dead_code)]

use dataplane::wire::checksum;
use std::net::Ipv6Addr;

pub const EXT_MAC: [u8; 6] = [0x02, 0xd0, 0, 0, 0, 1];
pub const INT_MAC: [u8; 6] = [0x02, 0xd0, 0, 0, 0, 2];
pub const ROUTER_MAC: [u8; 6] = [2, 0, 0, 0, 1, 0xfe];
pub const REAL1_MAC: [u8; 6] = [2, 0, 0, 0, 2, 0x11];
pub const REAL2_MAC: [u8; 6] = [2, 0, 0, 0, 2, 0x12];

pub fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}
pub fn vip6() -> Ipv6Addr {
    v6("2001:db8::100")
}
pub fn tun_vip6() -> Ipv6Addr {
    v6("2001:db8::101")
}
/// A client beyond the router (the default route's gateway 2001:db8::fe).
pub fn client6() -> Ipv6Addr {
    v6("2001:db8:5::2")
}
pub fn real1_6() -> Ipv6Addr {
    v6("2001:db8:1::11")
}
pub fn real2_6() -> Ipv6Addr {
    v6("2001:db8:1::12")
}
pub fn ext6() -> Ipv6Addr {
    v6("2001:db8::1")
}
pub fn int6() -> Ipv6Addr {
    v6("2001:db8:1::1")
}
pub fn router6() -> Ipv6Addr {
    v6("2001:db8::fe")
}

/// A dual-stack two-port config: NAT66 `web6` (TCP 80, rr over two reals), `dns6` (UDP
/// 5353 -> 53 on real1, NAT66), DR `dr6` (UDP 53), TUN6 `tun6` (TCP 80 on another VIP) and
/// NAT64 `web64` (TCP 8080 over the IPv4 real1's port 80); static neighbours for the router
/// and the reals.
pub fn config6() -> String {
    r#"eal: {lcores: "0-1", memory_mb: 256, hugepages: off}
workers: {cores: [1]}
mode: lb
ports:
  - {name: ext, device: net_null0, ip: 198.18.0.1/24, ip6: "2001:db8::1/64", mac: "02:d0:00:00:00:01"}
  - {name: int, device: net_null1, ip: 198.19.0.1/24, ip6: "2001:db8:1::1/64", mac: "02:d0:00:00:00:02"}
routes:
  - {prefix: 0.0.0.0/0, via: 198.18.0.254}
  - {prefix: "::/0", via: "2001:db8::fe"}
neighbors:
  - {ip: "2001:db8::fe", mac: "02:00:00:00:01:fe"}
  - {ip: "2001:db8:1::11", mac: "02:00:00:00:02:11"}
  - {ip: "2001:db8:1::12", mac: "02:00:00:00:02:12"}
  - {ip: 198.19.0.11, mac: "02:00:00:00:02:11"}
conn: {max_per_core: 4096, max_per_core_v6: 4096, timeouts: {udp: 300s}}
services:
  - {name: web6, vip: "2001:db8::100", port: 80, scheduler: rr, forward: nat,
     reals: [{ip: "2001:db8:1::11"}, {ip: "2001:db8:1::12"}]}
  - {name: dns6, vip: "2001:db8::100", port: 5353, protocol: udp, forward: nat,
     reals: [{ip: "2001:db8:1::11", port: 53}]}
  - {name: dr6, vip: "2001:db8::100", port: 53, protocol: udp, forward: dr,
     reals: [{ip: "2001:db8:1::11"}]}
  - {name: tun6, vip: "2001:db8::101", port: 80, forward: tun,
     reals: [{ip: "2001:db8:1::12"}]}
  - {name: web64, vip: "2001:db8::100", port: 8080, forward: nat,
     reals: [{ip: 198.19.0.11, port: 80}]}
"#
    .to_string()
}

/// The checksum field of `proto`'s header in `l4`, if it has one.
fn csum_at(proto: u8) -> Option<usize> {
    match proto {
        6 => Some(16),
        17 => Some(6),
        58 => Some(2),
        _ => None,
    }
}

/// Ethernet + IPv6 (hop limit `hops`, traffic class 0, flow label 0) + `next` headers: `ext`
/// (extension header bytes, their chain starting with `first`) then `l4` of protocol `proto`,
/// whose checksum is filled over the whole `l4` (a fragment's datagram: pass `l4_whole`).
#[allow(clippy::too_many_arguments)]
pub fn ipv6_frame(
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hops: u8,
    first: u8,
    ext: &[u8],
    proto: u8,
    l4: &[u8],
) -> Vec<u8> {
    let mut l4 = l4.to_vec();
    if let Some(at) = csum_at(proto) {
        l4[at] = 0;
        l4[at + 1] = 0;
        let c = checksum::l4_checksum_v6(&src, &dst, proto, &l4);
        let c = if proto == 17 {
            checksum::udp_field(c)
        } else {
            c
        };
        l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
    }
    raw6(dst_mac, src_mac, src, dst, hops, first, ext, &l4)
}

/// As [`ipv6_frame`] with the L4 bytes taken as they are (no checksum filled).
#[allow(clippy::too_many_arguments)]
pub fn raw6(
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hops: u8,
    first: u8,
    ext: &[u8],
    l4: &[u8],
) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&[0x86, 0xdd]);
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&((ext.len() + l4.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[first, hops]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    f.extend_from_slice(ext);
    f.extend_from_slice(l4);
    f
}

/// A plain IPv6 frame (no extension headers).
pub fn ip6(
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hops: u8,
    proto: u8,
    l4: &[u8],
) -> Vec<u8> {
    ipv6_frame(dst_mac, src_mac, src, dst, hops, proto, &[], proto, l4)
}

/// An ICMPv6 echo request (id, seq, a payload).
pub fn echo6(id: u16, seq: u16) -> Vec<u8> {
    let mut i = vec![128, 0, 0, 0];
    i.extend_from_slice(&id.to_be_bytes());
    i.extend_from_slice(&seq.to_be_bytes());
    i.extend_from_slice(b"ping6-payload");
    i
}

/// An ICMPv6 error (type, code, the 4 bytes after the checksum) quoting `quoted` (an IPv6
/// packet from its header on).
pub fn icmp6_error(ty: u8, code: u8, rest: [u8; 4], quoted: &[u8]) -> Vec<u8> {
    let mut i = vec![ty, code, 0, 0];
    i.extend_from_slice(&rest);
    i.extend_from_slice(quoted);
    i
}

/// A Neighbor Solicitation for `target` from `src` (`src_mac`, source link-layer option), to
/// the target's solicited-node group, hop limit 255.
pub fn neighbor_solicit(src_mac: [u8; 6], src: Ipv6Addr, target: Ipv6Addr) -> Vec<u8> {
    let t = target.octets();
    let group = Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(t[13]),
        u16::from_be_bytes([t[14], t[15]]),
    );
    let mut m = vec![135, 0, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&t);
    m.extend_from_slice(&[1, 1]);
    m.extend_from_slice(&src_mac);
    let g = group.octets();
    let mac = [0x33, 0x33, g[12], g[13], g[14], g[15]];
    ip6(mac, src_mac, src, group, 255, 58, &m)
}

/// The IPv6 header fields of a frame (no VLAN) and its upper layer after a Fragment header if
/// there is one: (src, dst, hop limit, next header after extension headers, L4 offset).
pub struct Seen6 {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub hops: u8,
    pub proto: u8,
    pub l4: usize,
}

pub fn seen6(f: &[u8]) -> Seen6 {
    assert_eq!(&f[12..14], &[0x86, 0xdd], "IPv6 ethertype");
    let a = |o: usize| Ipv6Addr::from(<[u8; 16]>::try_from(&f[o..o + 16]).unwrap());
    let (mut proto, mut l4) = (f[20], 54);
    if proto == 44 {
        proto = f[54];
        l4 = 62;
    }
    Seen6 {
        src: a(22),
        dst: a(38),
        hops: f[21],
        proto,
        l4,
    }
}

/// Does the L4 (or ICMPv6) checksum of the IPv6 packet at 14 verify (the packet not
/// fragmented)?
pub fn checksum6_ok(f: &[u8]) -> bool {
    let s = seen6(f);
    let end = 54 + usize::from(u16::from_be_bytes([f[18], f[19]]));
    checksum::l4_checksum_v6(&s.src, &s.dst, s.proto, &f[s.l4..end]) == 0
}
