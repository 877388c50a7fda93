//! Per-packet costs of the wire layer: parsing a TCP/IPv4/Ethernet frame, a full Internet
//! checksum over an MTU-sized buffer, and the incremental checksum updates of a NAT rewrite.

use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dataplane::wire::{checksum, parse_any, EthernetFrame, Ipv4Packet, TcpSegment};

/// A TCP SYN 198.18.0.1:40000 -> 203.0.113.10:80 with MSS/SACK/timestamps/wscale options.
const SYN_FRAME: [u8; 74] = [
    0x02, 0x00, 0x00, 0x00, 0x00, 0x22, 0x02, 0x00, 0x00, 0x00, 0x00, 0x11, 0x08, 0x00, 0x45, 0x00,
    0x00, 0x3c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0x1c, 0x58, 0xc6, 0x12, 0x00, 0x01, 0xcb, 0x00,
    0x71, 0x0a, 0x9c, 0x40, 0x00, 0x50, 0x3b, 0x9a, 0xca, 0x00, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02,
    0xfa, 0xf0, 0xc6, 0x83, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x01,
    0xe2, 0x40, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
];

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    // What the worker's classify step does: views down to the ports, no checksum verification.
    g.bench_function("views_eth_ipv4_tcp", |b| {
        b.iter(|| {
            let f = EthernetFrame::new_checked(black_box(&SYN_FRAME[..])).unwrap();
            let ip = Ipv4Packet::new_checked(f.payload()).unwrap();
            let t = TcpSegment::new_checked(ip.payload()).unwrap();
            black_box((
                ip.src_addr(),
                ip.dst_addr(),
                t.src_port(),
                t.dst_port(),
                t.flags(),
            ))
        })
    });
    // The full walk, which also verifies the IPv4 and TCP checksums.
    g.bench_function("parse_any_eth_ipv4_tcp", |b| {
        b.iter(|| parse_any(black_box(&SYN_FRAME[..])))
    });
    g.finish();
}

fn full_checksum(c: &mut Criterion) {
    let buf: Vec<u8> = (0..1500u32).map(|i| (i * 31 + 7) as u8).collect();
    let mut g = c.benchmark_group("checksum");
    g.throughput(Throughput::Bytes(buf.len() as u64));
    g.bench_function("full_1500", |b| {
        b.iter(|| checksum::checksum(black_box(&buf)))
    });
    g.finish();
}

fn nat_update(c: &mut Criterion) {
    let old_addr = Ipv4Addr::new(203, 0, 113, 10);
    let new_addr = Ipv4Addr::new(198, 51, 100, 20);
    let mut g = c.benchmark_group("nat_update");
    // The arithmetic alone: IP header checksum for the address, L4 checksum for address+port.
    g.bench_function("checksum_arith", |b| {
        b.iter(|| {
            let ip = checksum::update_addr(black_box(0x1c58), old_addr, black_box(new_addr));
            let l4 = checksum::update_addr_port(black_box(0xc683), old_addr, new_addr, 80, 8080);
            black_box((ip, l4))
        })
    });
    // The whole in-place rewrite through the views (destination NAT of a client packet).
    let mut frame = SYN_FRAME;
    g.bench_function("rewrite_in_place", |b| {
        b.iter(|| {
            let mut f = EthernetFrame::new_checked(black_box(&mut frame[..])).unwrap();
            let mut ip = Ipv4Packet::new_checked(f.payload_mut()).unwrap();
            let old = ip.rewrite_dst_addr(black_box(new_addr));
            let mut t = TcpSegment::new_checked(ip.payload_mut()).unwrap();
            t.update_checksum_for_addr(old, new_addr);
            t.rewrite_dst_port(black_box(8080));
        })
    });
    g.finish();
}

criterion_group!(benches, parse, full_checksum, nat_update);
criterion_main!(benches);
