//! What a worker decided for the first fragment of an IPv6 datagram (the Fragment header,
//! `lb/forward/frag6.rs`), so its later fragments, which carry no ports, follow it without
//! reassembly: the IPv6 side of `engine/fragments.rs`, with the same policy (a preallocated
//! open-addressing table, a bounded probe window, entries living `FRAG_TTL_MS`, a full window
//! overwriting its oldest entry) over the IPv6 datagram key (source, destination, 32-bit
//! identification).

use super::super::{drop_reason, Engine, Output};
use super::Pkt6;
use crate::lb::forward::frag6::{self, Frag6Key};
use crate::lb::types::ForwardMode;
use crate::wire::Frame;
use crate::worker::counters::{Counter, WorkerTotals};
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::tunables::{FRAG_PROBE as PROBE, FRAG_SLOTS as SLOTS, FRAG_TTL_MS as TTL_MS};

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

#[derive(Clone, Copy)]
struct Slot {
    key: Frag6Key,
    born_ms: u64,
    used: bool,
    action: Frag6Action,
}

const EMPTY: Slot = Slot {
    key: Frag6Key {
        src: Ipv6Addr::UNSPECIFIED,
        dst: Ipv6Addr::UNSPECIFIED,
        ident: 0,
    },
    born_ms: 0,
    used: false,
    action: Frag6Action::HandTo(0),
};

/// One worker's IPv6 fragment table.
pub struct Frag6Table {
    slots: Box<[Slot]>,
}

impl Default for Frag6Table {
    fn default() -> Self {
        Frag6Table::new()
    }
}

impl Frag6Table {
    pub fn new() -> Frag6Table {
        Frag6Table {
            slots: vec![EMPTY; SLOTS].into_boxed_slice(),
        }
    }

    fn home(key: &Frag6Key) -> usize {
        let (a, b) = (u128::from(key.src), u128::from(key.dst));
        let x = (a as u64) ^ ((a >> 64) as u64).rotate_left(13) ^ (b as u64).rotate_left(29);
        let x = x ^ ((b >> 64) as u64).rotate_left(43) ^ u64::from(key.ident);
        (crate::lb::family::fmix64(x) >> 40) as usize & (SLOTS - 1)
    }

    fn live(s: &Slot, now: u64) -> bool {
        s.used && now < s.born_ms.saturating_add(TTL_MS)
    }

    /// Records the decision for `key` at `now` (replacing one for the same key): into the
    /// key's own slot, else a free or expired one of its window, else over the window's oldest.
    pub fn record(&mut self, key: Frag6Key, action: Frag6Action, now: u64) {
        let home = Frag6Table::home(&key);
        let mut same = None;
        let mut free = None;
        let mut oldest = (u64::MAX, home);
        for i in 0..PROBE {
            let at = (home + i) & (SLOTS - 1);
            let s = &self.slots[at];
            if s.used && s.key == key {
                same = Some(at);
                break;
            }
            if !Frag6Table::live(s, now) {
                free = free.or(Some(at));
            } else if s.born_ms < oldest.0 {
                oldest = (s.born_ms, at);
            }
        }
        let victim = same.or(free).unwrap_or(oldest.1);
        self.slots[victim] = Slot {
            key,
            born_ms: now,
            used: true,
            action,
        };
    }

    /// The decision recorded for `key`, if it has not expired.
    pub fn get(&self, key: &Frag6Key, now: u64) -> Option<Frag6Action> {
        let home = Frag6Table::home(key);
        (0..PROBE)
            .map(|i| &self.slots[(home + i) & (SLOTS - 1)])
            .find(|s| s.used && s.key == *key)
            .filter(|s| Frag6Table::live(s, now))
            .map(|s| s.action)
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
