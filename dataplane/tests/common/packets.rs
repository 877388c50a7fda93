//! Building and reading the frames of replay tests (checksums through the crate's own wire
//! module, which has its own tests against hand-made bytes).
#![allow(dead_code)]

use dataplane::wire::checksum;
use std::net::Ipv4Addr;

pub const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 1, 2];
pub const ROUTER_MAC: [u8; 6] = [2, 0, 0, 0, 1, 0xfe];
pub const REAL1_MAC: [u8; 6] = [2, 0, 0, 0, 2, 0x11];
pub const REAL2_MAC: [u8; 6] = [2, 0, 0, 0, 2, 0x12];

pub fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// Ethernet + IPv4 (DF set, TTL 64) + the given L4 bytes (checksum filled for TCP/UDP).
pub fn ipv4(
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    l4: &[u8],
) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + l4.len()) as u16;
    let mut h = [0u8; 20];
    h[0] = 0x45;
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
    h[6] = 0x40;
    h[8] = 64;
    h[9] = proto;
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    let c = checksum::checksum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&h);
    let mut l4 = l4.to_vec();
    match proto {
        6 => {
            l4[16] = 0;
            l4[17] = 0;
            let c = checksum::l4_checksum_v4(src, dst, 6, &l4);
            l4[16..18].copy_from_slice(&c.to_be_bytes());
        }
        17 => {
            l4[6] = 0;
            l4[7] = 0;
            let c = checksum::udp_field(checksum::l4_checksum_v4(src, dst, 17, &l4));
            l4[6..8].copy_from_slice(&c.to_be_bytes());
        }
        _ => {}
    }
    f.extend_from_slice(&l4);
    while f.len() < 60 {
        f.push(0);
    }
    f
}

pub fn tcp(sport: u16, dport: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&sport.to_be_bytes());
    t[2..4].copy_from_slice(&dport.to_be_bytes());
    t[4..8].copy_from_slice(&1000u32.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = flags;
    t[14..16].copy_from_slice(&65535u16.to_be_bytes());
    t.extend_from_slice(payload);
    t
}

pub fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = vec![0u8; 8];
    u[0..2].copy_from_slice(&sport.to_be_bytes());
    u[2..4].copy_from_slice(&dport.to_be_bytes());
    u[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(payload);
    u
}

pub fn icmp_echo(id: u16, seq: u16) -> Vec<u8> {
    let mut i = vec![8, 0, 0, 0];
    i.extend_from_slice(&id.to_be_bytes());
    i.extend_from_slice(&seq.to_be_bytes());
    i.extend_from_slice(b"ping-payload");
    let c = checksum::checksum(&i);
    i[2..4].copy_from_slice(&c.to_be_bytes());
    i
}

/// An ICMP error (type, code) quoting `quoted` (an IPv4 packet starting at its header).
pub fn icmp_error(ty: u8, code: u8, quoted: &[u8]) -> Vec<u8> {
    let mut i = vec![ty, code, 0, 0, 0, 0, 0, 0];
    i.extend_from_slice(&quoted[..quoted.len().min(28)]);
    let c = checksum::checksum(&i);
    i[2..4].copy_from_slice(&c.to_be_bytes());
    i
}

pub fn arp_request(sender_mac: [u8; 6], sender: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&sender_mac);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&sender_mac);
    f.extend_from_slice(&sender.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&target.octets());
    f.resize(60, 0);
    f
}

/// The view of an output frame a test asserts on.
#[derive(Debug, Clone)]
pub struct Seen {
    pub dst_mac: [u8; 6],
    pub src_mac: [u8; 6],
    pub ethertype: u16,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub proto: u8,
    pub ttl: u8,
    pub sport: u16,
    pub dport: u16,
    pub ip_ok: bool,
    pub l4_ok: bool,
    pub l3: Vec<u8>,
}

pub fn seen(f: &[u8]) -> Seen {
    let mut s = Seen {
        dst_mac: f[0..6].try_into().unwrap(),
        src_mac: f[6..12].try_into().unwrap(),
        ethertype: u16::from_be_bytes([f[12], f[13]]),
        src: Ipv4Addr::UNSPECIFIED,
        dst: Ipv4Addr::UNSPECIFIED,
        proto: 0,
        ttl: 0,
        sport: 0,
        dport: 0,
        ip_ok: false,
        l4_ok: false,
        l3: f[14..].to_vec(),
    };
    if s.ethertype != 0x0800 {
        return s;
    }
    let h = &f[14..];
    let ihl = usize::from(h[0] & 15) * 4;
    let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
    s.src = Ipv4Addr::new(h[12], h[13], h[14], h[15]);
    s.dst = Ipv4Addr::new(h[16], h[17], h[18], h[19]);
    s.proto = h[9];
    s.ttl = h[8];
    s.ip_ok = checksum::checksum(&h[..ihl]) == 0;
    let l4 = &h[ihl..total];
    s.l3 = h[..total].to_vec();
    match s.proto {
        6 | 17 => {
            s.sport = u16::from_be_bytes([l4[0], l4[1]]);
            s.dport = u16::from_be_bytes([l4[2], l4[3]]);
            s.l4_ok = checksum::l4_checksum_v4(s.src, s.dst, s.proto, l4) == 0
                || (s.proto == 17 && l4[6] == 0 && l4[7] == 0);
        }
        1 | 4 => s.l4_ok = s.proto == 4 || checksum::checksum(l4) == 0,
        _ => {}
    }
    s
}

/// A UDP datagram (checksum over the whole datagram) split into IPv4 fragments of at most
/// `chunk` payload bytes (a multiple of 8): identification `ident`, MF on all but the last,
/// offsets in 8-byte units, no DF, header checksums filled.
#[allow(clippy::too_many_arguments)]
pub fn udp_fragments(
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    src: std::net::Ipv4Addr,
    dst: std::net::Ipv4Addr,
    sport: u16,
    dport: u16,
    payload: &[u8],
    ident: u16,
    chunk: usize,
) -> Vec<Vec<u8>> {
    assert_eq!(chunk % 8, 0);
    let mut l4 = udp(sport, dport, payload);
    let c = checksum::l4_checksum_v4(src, dst, 17, &l4);
    l4[6..8].copy_from_slice(&checksum::udp_field(c).to_be_bytes());
    let mut out = Vec::new();
    let mut off = 0;
    while off < l4.len() {
        let end = (off + chunk).min(l4.len());
        let mut f = Vec::new();
        f.extend_from_slice(&dst_mac);
        f.extend_from_slice(&src_mac);
        f.extend_from_slice(&[0x08, 0x00]);
        let mut h = [0u8; 20];
        h[0] = 0x45;
        h[2..4].copy_from_slice(&((20 + end - off) as u16).to_be_bytes());
        h[4..6].copy_from_slice(&ident.to_be_bytes());
        let mf = if end < l4.len() { 0x2000 } else { 0 };
        h[6..8].copy_from_slice(&((mf | (off / 8)) as u16).to_be_bytes());
        h[8] = 64;
        h[9] = 17;
        h[12..16].copy_from_slice(&src.octets());
        h[16..20].copy_from_slice(&dst.octets());
        let c = checksum::checksum(&h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(&h);
        f.extend_from_slice(&l4[off..end]);
        f.resize(f.len().max(60), 0);
        out.push(f);
        off = end;
    }
    out
}

/// A fragment's (identification, offset in bytes, more fragments).
pub fn frag_of(s: &Seen) -> (u16, usize, bool) {
    let ff = u16::from_be_bytes([s.l3[6], s.l3[7]]);
    (
        u16::from_be_bytes([s.l3[4], s.l3[5]]),
        usize::from(ff & 0x1fff) * 8,
        ff & 0x2000 != 0,
    )
}

/// The test's own reassembly: the datagram's L4 bytes from its fragments (any order), checking
/// they are complete and do not overlap.
pub fn reassemble(frags: &[Seen]) -> Vec<u8> {
    let mut parts: Vec<(usize, bool, &[u8])> = frags
        .iter()
        .map(|s| {
            let (_, off, mf) = frag_of(s);
            (off, mf, &s.l3[20..])
        })
        .collect();
    parts.sort_by_key(|p| p.0);
    let mut l4 = Vec::new();
    for (off, _, data) in &parts {
        assert_eq!(*off, l4.len(), "fragments contiguous");
        l4.extend_from_slice(data);
    }
    assert!(!parts.last().unwrap().1, "the last fragment is there");
    l4
}
