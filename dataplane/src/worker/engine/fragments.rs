//! What a worker decided for the first fragment of an IPv4 datagram, so that its later
//! fragments (which carry no ports) follow it without reassembly.
//!
//! Keyed by (source, destination, protocol, IP identification), as the receiver of a datagram
//! would reassemble it (RFC 791). Two kinds of entries: the worker that RECEIVED a first
//! fragment owned by another worker remembers that owner (its later fragments are handed over
//! the same way), and the OWNER remembers the rewrite it applied. The table itself (fixed,
//! preallocated, a bounded probe window, entries living `FRAG_TTL_MS`) is `lb/frag_table.rs`,
//! shared with IPv6.

use super::{drop_reason, Engine, Output, Pkt};
use crate::lb::forward::frag;
use crate::lb::types::ForwardMode;
use crate::wire::{Frame, Ipv4Facts};
use crate::worker::counters::{Counter, WorkerTotals};
use std::net::Ipv4Addr;

use crate::lb::frag_table::DatagramKey;
#[cfg(test)]
use crate::lb::frag_table::PROBE;

/// The datagram a fragment belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragKey {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub proto: u8,
    pub ident: u16,
}

/// What to do with the later fragments of a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FragAction {
    /// Another worker owns the connection: hand the fragments to it.
    HandTo(u16),
    /// Client -> VIP, forwarded to a real by `mode` (NAT: destination becomes `real_addr`).
    In {
        mode: ForwardMode,
        real_addr: Ipv4Addr,
        real: crate::lb::types::RealId,
    },
    /// Real -> client NAT reply: the source becomes `vip`.
    Out {
        vip: Ipv4Addr,
        real: crate::lb::types::RealId,
    },
    /// A NAT64 reply from `rport` to our bound port `lport`: translated to IPv6 for its
    /// client (`v6/nat64.rs`).
    To6 { lport: u16, rport: u16 },
}

/// One worker's IPv4 fragment decisions.
pub type FragTable = crate::lb::frag_table::FragTable<FragKey, FragAction>;

impl DatagramKey for FragKey {
    fn hash(&self) -> u64 {
        let a = u64::from(u32::from(self.src)) << 32 | u64::from(u32::from(self.dst));
        let b = u64::from(self.ident) << 8 | u64::from(self.proto);
        (a ^ b.rotate_left(29)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
}

/// The datagram `ip` is a fragment of.
#[inline]
pub(super) fn key(ip: &Ipv4Facts) -> FragKey {
    FragKey {
        src: ip.src,
        dst: ip.dst,
        proto: ip.proto,
        ident: ip.ident,
    }
}

impl<F: Frame> Engine<F> {
    /// The receiving worker of a first fragment owned by another worker remembers that owner,
    /// so the datagram's later fragments (which arrive on the same queue) follow it.
    #[inline]
    pub(super) fn fragment_owner(&mut self, ip: &Ipv4Facts, owner: usize) {
        if ip.fragment {
            let action = FragAction::HandTo(owner as u16);
            self.frags.record(key(ip), action, self.now);
        }
    }

    /// A fragment after the first: no ports, so it follows what its first fragment decided
    /// (handed to the owner, or rewritten as the first was); without a decision (it came
    /// before its first fragment, or too late) it is dropped.
    pub(super) fn later_fragment<O: Output<F>>(
        &mut self,
        mut f: F,
        p: Pkt,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        match self.frags.get(&key(&p.ip), self.now) {
            Some(FragAction::HandTo(w)) if !p.handed && usize::from(w) != self.id => {
                self.hand_off(f, usize::from(w), p.port, out, t)
            }
            Some(FragAction::In {
                mode,
                real_addr,
                real,
            }) => {
                self.traffic.packet(real, true, f.data().len());
                self.forward_in(f, p, mode, real_addr, 0, out, t);
            }
            Some(FragAction::Out { vip, real }) => {
                self.traffic.packet(real, false, f.data().len());
                if let Err(e) = frag::nat_out_fragment(f.data_mut(), p.l3, vip, 0) {
                    return t.inc(drop_reason(e));
                }
                t.inc(Counter::NatOut);
                t.inc(Counter::FragmentsForwarded);
                self.route_out(f, p.ip.dst, out, t);
            }
            _ => t.inc(Counter::DropFragmentUnmatched),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ident: u16) -> FragKey {
        FragKey {
            src: Ipv4Addr::new(198, 18, 0, 2),
            dst: Ipv4Addr::new(198, 18, 0, 100),
            proto: 17,
            ident,
        }
    }

    #[test]
    fn records_are_found_until_they_expire() {
        let mut t = FragTable::new();
        t.record(key(1), FragAction::HandTo(3), 1000);
        assert_eq!(t.get(&key(1), 1000), Some(FragAction::HandTo(3)));
        assert_eq!(t.get(&key(1), 2999), Some(FragAction::HandTo(3)));
        assert_eq!(t.get(&key(1), 3000), None, "2 s after the first fragment");
        assert_eq!(t.get(&key(2), 1000), None);
        let other_proto = FragKey { proto: 6, ..key(1) };
        assert_eq!(t.get(&other_proto, 1000), None);
    }

    #[test]
    fn the_same_key_is_replaced_in_place() {
        let mut t = FragTable::new();
        t.record(key(7), FragAction::HandTo(1), 0);
        let a = FragAction::Out {
            vip: Ipv4Addr::new(198, 18, 0, 100),
            real: 2,
        };
        t.record(key(7), a, 10);
        assert_eq!(t.get(&key(7), 10), Some(a));
        assert_eq!(t.occupied(), 1);
    }

    #[test]
    fn a_full_window_loses_its_oldest_entry() {
        let mut t = FragTable::new();
        // Keys with the same home slot.
        let home = FragTable::home(&key(0));
        let same: Vec<FragKey> = (1..=u16::MAX)
            .map(key)
            .filter(|k| FragTable::home(k) == home)
            .take(PROBE + 1)
            .collect();
        assert_eq!(same.len(), PROBE + 1);
        for (i, k) in same[..PROBE].iter().enumerate() {
            t.record(*k, FragAction::HandTo(i as u16), 100 + i as u64);
        }
        t.record(same[PROBE], FragAction::HandTo(99), 200);
        assert_eq!(t.get(&same[0], 200), None, "the oldest made room");
        for (i, k) in same[1..PROBE].iter().enumerate() {
            assert_eq!(t.get(k, 200), Some(FragAction::HandTo(i as u16 + 1)));
        }
        assert_eq!(t.get(&same[PROBE], 200), Some(FragAction::HandTo(99)));
    }

    #[test]
    fn expired_slots_are_reused_first() {
        let mut t = FragTable::new();
        let home = FragTable::home(&key(0));
        let same: Vec<FragKey> = (1..=u16::MAX)
            .map(key)
            .filter(|k| FragTable::home(k) == home)
            .take(PROBE + 1)
            .collect();
        for (i, k) in same[..PROBE].iter().enumerate() {
            // Slot 3 is old enough to have expired at t=5000.
            let born = if i == 3 { 0 } else { 4000 };
            t.record(*k, FragAction::HandTo(i as u16), born);
        }
        t.record(same[PROBE], FragAction::HandTo(99), 5000);
        for (i, k) in same[..PROBE].iter().enumerate() {
            let want = (i != 3).then_some(FragAction::HandTo(i as u16));
            assert_eq!(t.get(k, 5000), want);
        }
        assert_eq!(t.get(&same[PROBE], 5000), Some(FragAction::HandTo(99)));
    }
}
