//! IPv6 through the engine as it stands after the wire work of issue 11 (part 1): every frame
//! is parsed once by `wire::parse_frame`, a malformed IPv6 packet (payload length past the
//! frame, an extension-header loop, a truncated header) is dropped as `drop_malformed`, and a
//! well-formed one as `drop_unsupported` until the engine forwards IPv6. The engine wiring
//! replaces the second half of these expectations.
mod common;
use common::packets::ROUTER_MAC;
use common::two_ports::{config, EXT_MAC};
use dataplane::wire::{parse_frame, Net, WireError};
use dataplane::worker::engine::sim::Sim;

/// An IPv6 frame from the router: 2001:db8:1::2 -> 2001:db8:100::10, hop limit 64, next header
/// `first`, then `rest` (extension headers and L4).
fn frame6(first: u8, rest: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&EXT_MAC);
    f.extend_from_slice(&ROUTER_MAC);
    f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
    f.extend_from_slice(&(rest.len() as u16).to_be_bytes());
    f.extend_from_slice(&[first, 64]);
    f.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    f.extend_from_slice(&[
        0x20, 0x01, 0x0d, 0xb8, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ]);
    f.extend_from_slice(rest);
    f
}

fn syn() -> [u8; 20] {
    let mut t = [0u8; 20];
    t[..4].copy_from_slice(&[0x9c, 0x40, 0, 80]);
    t[12] = 0x50;
    t[13] = 0x02;
    t
}

#[test]
fn ipv6_frames_are_dropped_by_their_true_reason() {
    let good = frame6(6, &syn());
    let mut past_end = good.clone();
    past_end[19] += 1; // payload length one more than the frame holds
    let mut looped = vec![60, 0, 0, 0, 0, 0, 0, 0, 60, 0, 0, 0, 0, 0, 0, 0];
    looped.extend_from_slice(&[60, 0, 0, 0, 0, 0, 0, 0]);
    looped.extend_from_slice(&syn());
    let looped = frame6(60, &looped);
    let truncated = frame6(44, &[6, 0, 0]);

    let Net::Ipv6(ip) = parse_frame(&good).unwrap().net else {
        panic!("not parsed as IPv6")
    };
    assert_eq!(
        (ip.sport, ip.dport, ip.tcp_flags, ip.l4),
        (40000, 80, 0x02, 54)
    );
    assert_eq!(parse_frame(&past_end), Err(WireError::Truncated));
    assert_eq!(parse_frame(&looped), Err(WireError::RepeatedExtHeader));
    assert_eq!(parse_frame(&truncated), Err(WireError::Truncated));

    let mut s = Sim::new(&config("nat", ""), 1, false).unwrap();
    s.rx(0, 0, &good);
    s.rx(0, 0, &past_end);
    s.rx(0, 0, &looped);
    s.rx(0, 0, &truncated);
    s.poll();
    assert_eq!(s.counter("drop_unsupported"), 1);
    assert_eq!(s.counter("drop_malformed"), 3);
    assert!(s.take_sent(0).is_empty() && s.take_sent(1).is_empty());
}
