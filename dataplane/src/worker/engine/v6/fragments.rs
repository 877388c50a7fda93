//! What a worker decided for the first fragment of an IPv6 datagram (the Fragment header,
//! `lb/forward/frag6.rs`), so its later fragments, which carry no ports, follow it without
//! reassembly: the IPv6 side of `engine/fragments.rs`, the same table (`lb/frag_table.rs`)
//! over the IPv6 datagram key (source, destination, 32-bit identification).

use super::super::{drop_reason, Engine, Output};
use super::Pkt6;
use crate::lb::forward::frag6::{self, Frag6Key};
use crate::lb::types::ForwardMode;
use crate::wire::Frame;
use crate::worker::counters::{Counter, WorkerTotals};
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::lb::frag_table::DatagramKey;

/// What to do with the later fragments of an IPv6 datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frag6Action {
    /// Another worker owns the connection: hand the fragments to it.
    HandTo(u16),
    /// Client -> VIP, forwarded to a real by `mode` (NAT66: destination becomes `real_addr`).
    In {
        mode: ForwardMode,
        real_addr: Ipv6Addr,
    },
    /// Real -> client NAT66 reply: the source becomes `vip`.
    Out { vip: Ipv6Addr },
    /// Client -> VIP of a NAT64 connection: translated to IPv4 from our port `lport` to
    /// `real`:`rport` (`nat64.rs`).
    To4 {
        real: Ipv4Addr,
        rport: u16,
        lport: u16,
    },
}

/// One worker's IPv6 fragment decisions.
pub type Frag6Table = crate::lb::frag_table::FragTable<Frag6Key, Frag6Action>;

impl DatagramKey for Frag6Key {
    fn hash(&self) -> u64 {
        let (a, b) = (u128::from(self.src), u128::from(self.dst));
        let x = (a as u64) ^ ((a >> 64) as u64).rotate_left(13) ^ (b as u64).rotate_left(29);
        let x = x ^ ((b >> 64) as u64).rotate_left(43) ^ u64::from(self.ident);
        crate::lb::family::fmix64(x)
    }
}

impl<F: Frame> Engine<F> {
    /// An IPv6 fragment after the first: it follows what its first fragment decided (handed to
    /// the owner, or rewritten as the first was); without a decision it is dropped.
    pub(super) fn later_fragment6<O: Output<F>>(
        &mut self,
        mut f: F,
        p: Pkt6,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        let Some(key) = Frag6Key::of(&p.ip) else {
            return t.inc(Counter::DropFragmentUnmatched);
        };
        let action = self.v6.as_ref().and_then(|v6| v6.frags.get(&key, self.now));
        match action {
            Some(Frag6Action::HandTo(w)) if !p.handed && usize::from(w) != self.id => {
                self.hand_off(f, usize::from(w), p.port, out, t)
            }
            Some(Frag6Action::In { mode, real_addr }) => {
                self.forward_in6(f, p, mode, real_addr, 0, out, t)
            }
            Some(Frag6Action::To4 { real, rport, lport }) => {
                self.forward_64(f, p, real, rport, lport, out, t)
            }
            Some(Frag6Action::Out { vip }) => {
                if let Err(e) = frag6::nat66_out_fragment(f.data_mut(), p.l3, vip, 0) {
                    return t.inc(drop_reason(e));
                }
                t.inc(Counter::NatOut);
                t.inc(Counter::FragmentsForwarded);
                self.route_out6(f, p.ip.dst, out, t);
            }
            _ => t.inc(Counter::DropFragmentUnmatched),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lb::frag_table::{PROBE, TTL_MS};

    fn key(ident: u32) -> Frag6Key {
        Frag6Key {
            src: "2001:db8::2".parse().unwrap(),
            dst: "2001:db8::100".parse().unwrap(),
            ident,
        }
    }

    #[test]
    fn records_are_found_until_they_expire_and_a_full_window_loses_its_oldest() {
        let mut t = Frag6Table::new();
        t.record(key(1), Frag6Action::HandTo(3), 1000);
        assert_eq!(t.get(&key(1), 1000), Some(Frag6Action::HandTo(3)));
        assert_eq!(t.get(&key(1), 1000 + TTL_MS), None);
        assert_eq!(t.get(&key(2), 1000), None);
        let home = Frag6Table::home(&key(0));
        let same: Vec<Frag6Key> = (1..=u32::MAX)
            .map(key)
            .filter(|k| Frag6Table::home(k) == home)
            .take(PROBE + 1)
            .collect();
        for (i, k) in same[..PROBE].iter().enumerate() {
            t.record(*k, Frag6Action::HandTo(i as u16), 100 + i as u64);
        }
        t.record(same[PROBE], Frag6Action::HandTo(99), 200);
        assert_eq!(t.get(&same[0], 200), None, "the oldest made room");
        assert_eq!(t.get(&same[PROBE], 200), Some(Frag6Action::HandTo(99)));
    }
}
