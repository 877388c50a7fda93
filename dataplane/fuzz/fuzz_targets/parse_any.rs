//! Feeds arbitrary frames to `parse_any` and, through it, every wire parser, and to
//! `parse_frame`, the parser the engine uses (the `engine` target drives the whole engine);
//! also runs the in-place rewrites a NAT would on whatever parses, which must never panic
//! either.
#![no_main]

use dataplane::wire::{parse_any, parse_frame, EthernetFrame, Icmpv4Packet, Ipv4Packet, TcpSegment};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_any(data);
    let _ = parse_frame(data);
    let mut buf = data.to_vec();
    let Ok(mut f) = EthernetFrame::new_checked(&mut buf[..]) else {
        return;
    };
    let Ok(mut ip) = Ipv4Packet::new_checked(f.payload_mut()) else {
        return;
    };
    let old = ip.rewrite_dst_addr(std::net::Ipv4Addr::new(198, 51, 100, 1));
    let payload = ip.payload_mut();
    if let Ok(mut t) = TcpSegment::new_checked(&mut payload[..]) {
        t.update_checksum_for_addr(old, std::net::Ipv4Addr::new(198, 51, 100, 1));
        t.rewrite_dst_port(8080);
    }
    if let Ok(mut i) = Icmpv4Packet::new_checked(&mut payload[..]) {
        if let Ok(mut q) = i.quote_mut() {
            q.rewrite_src(std::net::Ipv4Addr::new(203, 0, 113, 1), 80);
        }
        i.make_echo_reply();
        i.fill_checksum();
    }
});
