//! The table behind both families' fragment decisions (`worker/engine/fragments.rs` for IPv4,
//! `worker/engine/v6/fragments.rs` for IPv6): what a worker decided for the first fragment of
//! a datagram, found again by the datagram's key when its later fragments (which carry no
//! ports) arrive, so they follow it without reassembly.
//!
//! A fixed, preallocated open-addressing table: a key probes a window of [`PROBE`] slots from
//! its home slot, entries live [`TTL_MS`] after their first fragment, and a full window
//! overwrites its oldest entry, so the per-packet path never allocates and its work is
//! bounded. The families differ only in the key (and its hash) and in what is decided.

pub use crate::tunables::{FRAG_PROBE as PROBE, FRAG_SLOTS as SLOTS, FRAG_TTL_MS as TTL_MS};

/// The key of a datagram, as its receiver would reassemble it.
pub trait DatagramKey: Copy + PartialEq {
    /// A hash of the whole key; its bits 40.. choose the home slot.
    fn hash(&self) -> u64;
}

#[derive(Clone, Copy)]
struct Slot<K, A> {
    key: K,
    born_ms: u64,
    action: A,
}

impl<K, A> Slot<K, A> {
    fn live(&self, now: u64) -> bool {
        now < self.born_ms.saturating_add(TTL_MS)
    }
}

/// One worker's fragment decisions of one family: keys `K`, decisions `A`.
pub struct FragTable<K, A> {
    slots: Box<[Option<Slot<K, A>>]>,
}

impl<K: DatagramKey, A: Copy> Default for FragTable<K, A> {
    fn default() -> Self {
        FragTable::new()
    }
}

impl<K: DatagramKey, A: Copy> FragTable<K, A> {
    pub fn new() -> FragTable<K, A> {
        FragTable {
            slots: vec![None; SLOTS].into_boxed_slice(),
        }
    }

    /// The first slot of `key`'s probe window.
    pub fn home(key: &K) -> usize {
        (key.hash() >> 40) as usize & (SLOTS - 1)
    }

    /// Records the decision for `key` at `now` (replacing one for the same key): into the
    /// key's own slot, else a free or expired one of its window, else over the window's oldest.
    pub fn record(&mut self, key: K, action: A, now: u64) {
        let home = Self::home(&key);
        let mut same = None;
        let mut free = None;
        let mut oldest = (u64::MAX, home);
        for i in 0..PROBE {
            let at = (home + i) & (SLOTS - 1);
            match &self.slots[at] {
                Some(s) if s.key == key => {
                    same = Some(at);
                    break;
                }
                Some(s) if s.live(now) => {
                    if s.born_ms < oldest.0 {
                        oldest = (s.born_ms, at);
                    }
                }
                _ => free = free.or(Some(at)),
            }
        }
        let victim = same.or(free).unwrap_or(oldest.1);
        self.slots[victim] = Some(Slot {
            key,
            born_ms: now,
            action,
        });
    }

    /// Slots holding an entry, live or expired (tests).
    #[cfg(test)]
    pub fn occupied(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    /// The decision recorded for `key`, if it has not expired.
    pub fn get(&self, key: &K, now: u64) -> Option<A> {
        let home = Self::home(key);
        (0..PROBE)
            .filter_map(|i| self.slots[(home + i) & (SLOTS - 1)].as_ref())
            .find(|s| s.key == *key)
            .filter(|s| s.live(now))
            .map(|s| s.action)
    }
}
