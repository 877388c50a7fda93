//! The IPv6 exception path: what a port with an `ip6` address must hand to the kernel behind
//! its exception interface, so that the kernel's IPv6 works on the wire (health checks to IPv6
//! reals, ssh over IPv6): packets to the port's own IPv6 addresses that the engine does not
//! answer itself, to link-local unicast (the kernel's fe80:: address), and link-scope multicast
//! (ff02::/16: neighbour discovery's groups, all-nodes). The IPv6 dispatch (`v6/mod.rs`) sends
//! those here; on a port without `ip6` they are `drop_unsupported`, as is all IPv6 when no port
//! has an IPv6 address (the engine then has no IPv6 state).
//!
//! The destination is read from the fixed header alone: nothing here depends on extension
//! headers, and a frame too short for the header is `drop_malformed`.

use super::Engine;
use crate::lb::route::PortIdx;
use crate::wire::Frame;
use crate::worker::counters::{Counter, WorkerTotals};
use std::net::Ipv6Addr;

use super::output::Output;

/// Offset of the destination address in the IPv6 fixed header, and the header's length.
const DST: usize = 24;
const HEADER: usize = 40;

/// Is `dst` the kernel's on a port whose own IPv6 address is `own`?
#[inline]
fn for_the_kernel(dst: Ipv6Addr, own: bool) -> bool {
    let first = dst.segments()[0];
    own || (first & 0xffc0) == 0xfe80 || (first & 0xff0f) == 0xff02
}

impl<F: Frame> Engine<F> {
    /// An IPv6 frame (its header at `l3`) received on `port`.
    #[inline]
    pub(super) fn ipv6_to_kernel<O: Output<F>>(
        &mut self,
        f: F,
        l3: usize,
        port: PortIdx,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        let v6 = &self.snap.v6;
        if !v6.own.iter().any(|&(_, p)| p == port) {
            return t.inc(Counter::DropUnsupported);
        }
        let Some(dst) = f.data().get(l3 + DST..l3 + HEADER) else {
            return t.inc(Counter::DropMalformed);
        };
        let mut b = [0u8; 16];
        b.copy_from_slice(dst);
        let dst = Ipv6Addr::from(b);
        if for_the_kernel(dst, v6.own_port(dst) == Some(port)) {
            self.deliver_to_kernel(f, port, out, t);
        } else {
            t.inc(Counter::DropUnsupported);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::sim::Sim;

    /// The simulation's example config with IPv6 on the internal port only.
    fn yaml() -> String {
        let base = super::super::sim::EXAMPLE_CONFIG;
        let out = base.replacen(
            "ip: 198.19.0.1/24,",
            "ip: 198.19.0.1/24, ip6: \"2001:db8:1::1/64\",",
            1,
        );
        assert_ne!(out, base, "the example's internal port changed");
        out
    }

    /// An Ethernet + IPv6 frame (no payload past the header) from `src` to `dst`.
    fn frame(src: &str, dst: &str, truncate: usize) -> Vec<u8> {
        let mut f = vec![0x33, 0x33, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0x11, 0x86, 0xdd];
        f.extend_from_slice(&[0x60, 0, 0, 0, 0, 0, 58, 255]);
        f.extend_from_slice(&src.parse::<std::net::Ipv6Addr>().unwrap().octets());
        f.extend_from_slice(&dst.parse::<std::net::Ipv6Addr>().unwrap().octets());
        f.truncate(f.len() - truncate);
        f
    }

    #[test]
    fn own_link_local_and_link_multicast_go_to_the_kernel() {
        let mut sim = Sim::new(&yaml(), 1, true).unwrap();
        let (ext, int) = (sim.port("ext"), sim.port("int"));
        let real = "2001:db8:1::11";
        for dst in ["2001:db8:1::1", "fe80::1", "ff02::1:ff00:1", "ff02::1"] {
            sim.rx(0, int, &frame(real, dst, 0));
        }
        // Not ours: another host's address, a VIP-less transit, global multicast (the IPv6
        // path's transit, not forwarded).
        for dst in ["2001:db8:1::12", "2001:db8:9::1", "ff05::2"] {
            sim.rx(0, int, &frame(real, dst, 0));
        }
        // The external port has no ip6: its IPv6 stays unsupported, even to our address.
        sim.rx(0, ext, &frame("2001:db8::2", "2001:db8:1::1", 0));
        sim.rx(0, int, &frame(real, "2001:db8:1::1", 1));
        let kernel = sim.take_kernel();
        assert_eq!(kernel.len(), 4);
        assert!(kernel.iter().all(|(p, _)| *p == int));
        assert_eq!(sim.counter("drop_not_for_us"), 3);
        assert_eq!(sim.counter("drop_unsupported"), 1);
        assert_eq!(sim.counter("drop_malformed"), 1);
    }
}
