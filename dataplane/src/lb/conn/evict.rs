//! The full-table policy: which connection an insert into a full table frees, found in O(1).
//!
//! Evictable connections are TCP connections in any state but ESTABLISHED: half-open
//! (NONE, SYN_SENT, SYN_RECV, SYNACK, LISTEN) and closing (FIN_WAIT, TIME_WAIT, CLOSE,
//! CLOSE_WAIT, LAST_ACK). They are not filed on the timer wheel but on one intrusive FIFO list
//! per state, threaded through the same `wnext`/`wprev` links (so the entry stays 52 bytes and
//! nothing is allocated): a connection joins the tail of its state's list when it is created
//! or enters that state, and moves back to the tail on every packet. Every connection of a
//! list has the same timeout, so each list is ordered by expiry and its head is the oldest,
//! soonest-expiring connection of that state.
//!
//! An insert into a full table compares the heads of the (eleven) lists and frees the one that
//! expires first, whatever the timeouts and however the entries were timed: the work is
//! constant, and an evictable connection is always found if one exists. Established TCP and
//! UDP/ICMP connections are never evicted (`docs/decisions.md` says why); when only they fill
//! the table, the insert may still reclaim one of them that is past its expiry, looking at most
//! `evict_probes` wheel slots and entries ahead, and is refused otherwise.
//!
//! `expire` reaps the lists from their heads (a head not yet due means nothing behind it is):
//! no wheel is needed for them. The one exception is a timeout lowered at run time
//! (`set_timeouts`): a list may then briefly hold an entry due before its head; it expires
//! once the head does (at most the old timeout late), and remains evictable meanwhile.

use super::ended::EndReason;
use super::entry::{Entry, NIL};
use super::state::TcpState;
use super::table::ConnTable;
use crate::lb::family::Family;
use crate::lb::types::Protocol;
use crate::tunables::CONN_WHEEL_SLOTS_MAX;

/// One list per TCP state, indexed by its discriminant (ESTABLISHED's is never used).
pub(super) const LISTS: usize = TcpState::ALL.len();

/// `Entry::wslot` of a connection on list `l` is `LIST_BASE + l`: above every wheel slot.
const LIST_BASE: u16 = CONN_WHEEL_SLOTS_MAX as u16;
const _: () = assert!(CONN_WHEEL_SLOTS_MAX + LISTS <= u16::MAX as usize);

/// Heads and tails of the per-state lists of evictable connections.
#[derive(Clone, Copy, Debug)]
pub(super) struct EvictLists {
    pub head: [u32; LISTS],
    pub tail: [u32; LISTS],
}

impl EvictLists {
    pub const EMPTY: EvictLists = EvictLists {
        head: [NIL; LISTS],
        tail: [NIL; LISTS],
    };
}

/// Whether a connection may be evicted for a new one: TCP, not ESTABLISHED.
#[inline]
pub(super) fn is_evictable<A: Family>(e: &Entry<A>) -> bool {
    e.proto() == Protocol::Tcp as u8 && e.state != TcpState::Established as u8
}

/// The list a `wslot` value names, if it names one (otherwise it is a wheel slot).
#[inline]
pub(super) fn list_of(wslot: u16) -> Option<usize> {
    wslot
        .checked_sub(LIST_BASE)
        .map(usize::from)
        .filter(|&l| l < LISTS)
}

impl<A: Family> ConnTable<A> {
    /// Files a newly created connection: on its state's list if evictable, else on the wheel.
    pub(super) fn file(&mut self, idx: u32) {
        if is_evictable(&self.entries[idx as usize]) {
            self.list_push(idx);
        } else {
            self.wheel_link(idx);
        }
    }

    /// Appends `idx` (not linked anywhere) to the tail of its state's list.
    fn list_push(&mut self, idx: u32) {
        let l = usize::from(self.entries[idx as usize].state).min(LISTS - 1);
        let tail = self.evict.tail[l];
        if tail == NIL {
            self.evict.head[l] = idx;
        } else {
            self.entries[tail as usize].wnext = idx;
        }
        let e = &mut self.entries[idx as usize];
        e.wprev = tail;
        e.wnext = NIL;
        e.set_wslot(LIST_BASE + l as u16);
        self.evict.tail[l] = idx;
    }

    /// Moves an evictable connection whose expiry or state just changed to the tail of its
    /// state's list (from the wheel, another list, or its place in the same one), keeping each
    /// list ordered by expiry. A no-op for the tail itself, the common case of a burst.
    pub(super) fn list_requeue(&mut self, idx: u32) {
        let e = &self.entries[idx as usize];
        let l = usize::from(e.state).min(LISTS - 1);
        if list_of(e.wslot()) == Some(l) && self.evict.tail[l] == idx {
            return;
        }
        self.wheel_unlink(idx);
        self.list_push(idx);
    }

    /// Unlinks `idx` from list `l` given its neighbours (the heads/tails part of
    /// `wheel_unlink`, which fixes the neighbours' own links).
    pub(super) fn list_unlink_ends(&mut self, l: usize, idx: u32, prev: u32, next: u32) {
        if prev == NIL && self.evict.head[l] == idx {
            self.evict.head[l] = next;
        }
        if next == NIL && self.evict.tail[l] == idx {
            self.evict.tail[l] = prev;
        }
    }

    /// Expires due evictable connections from the list heads, each one a unit of `budget`
    /// (counted in `work`). Returns false if it stopped on a templated connection because the
    /// ended ring is full (the caller stops too).
    pub(super) fn expire_lists(
        &mut self,
        now: u32,
        budget: usize,
        work: &mut usize,
        expired: &mut usize,
    ) -> bool {
        for l in 0..LISTS {
            loop {
                let i = self.evict.head[l];
                if i == NIL || *work >= budget || self.entries[i as usize].expiry > now {
                    break;
                }
                if !self.can_end(i) {
                    return false;
                }
                *work += 1;
                self.release(i, EndReason::Expired);
                self.stats.expired += 1;
                *expired += 1;
            }
        }
        true
    }

    /// The full-table policy: frees one slot if it can. The evictable connection that expires
    /// first (the earliest of the list heads) goes, counted as evicted, or as expired if it is
    /// already due. With none, a connection already past its expiry on the wheel is reclaimed
    /// (looking at most `evict_probes` slots and entries ahead). A connection holding a
    /// template is skipped while the ended ring is full (its report could not be queued).
    pub(super) fn make_room(&mut self, now: u32) -> bool {
        let victim = self.oldest_evictable();
        if victim == NIL {
            return self.reclaim_expired(now);
        }
        if self.entries[victim as usize].expiry <= now {
            self.release(victim, EndReason::Expired);
            self.stats.expired += 1;
        } else {
            self.release(victim, EndReason::Evicted);
            self.stats.evicted += 1;
        }
        true
    }

    /// The evictable connection that expires first and may end now, NIL if none. Constant work
    /// unless the ended ring is full (then up to `evict_probes` templated entries per list are
    /// stepped over).
    fn oldest_evictable(&self) -> u32 {
        let mut best = NIL;
        let mut best_expiry = u32::MAX;
        for l in 0..LISTS {
            let mut i = self.evict.head[l];
            let mut steps = self.evict_probes;
            while i != NIL && !self.can_end(i) && steps > 0 {
                steps -= 1;
                i = self.entries[i as usize].wnext;
            }
            if i != NIL && self.can_end(i) {
                let expiry = self.entries[i as usize].expiry;
                if best == NIL || expiry < best_expiry {
                    best = i;
                    best_expiry = expiry;
                }
            }
        }
        best
    }

    /// Frees one wheel connection already past its expiry (established TCP, UDP or ICMP that
    /// `expire` has not reached yet), looking at most `evict_probes` slots + entries ahead from
    /// the second the wheel is at.
    fn reclaim_expired(&mut self, now: u32) -> bool {
        let mut probes = self.evict_probes;
        // Where `expire` would be after catching up (it may lag a revolution or more).
        let mut tick = self.wheel_tick.max(now.saturating_sub(self.wheel_mask));
        while probes > 0 && tick <= now {
            probes -= 1;
            let mut i = self.wheel[(tick & self.wheel_mask) as usize];
            while i != NIL && probes > 0 {
                probes -= 1;
                let e = &self.entries[i as usize];
                if e.expiry <= now && self.can_end(i) {
                    self.release(i, EndReason::Expired);
                    self.stats.expired += 1;
                    return true;
                }
                i = e.wnext;
            }
            tick = tick.wrapping_add(1);
        }
        false
    }

    /// Test support: every live connection is filed exactly once, evictable ones on their
    /// state's list (doubly linked, tail right, in expiry order: time only goes forward and
    /// timeouts stay), the others on the wheel slot they name.
    #[cfg(test)]
    pub(super) fn check_filing(&self) -> Result<(), String> {
        let mut filed = 0usize;
        for l in 0..LISTS {
            let (mut prev, mut i) = (NIL, self.evict.head[l]);
            while i != NIL {
                let e = self
                    .entries
                    .get(i as usize)
                    .ok_or("list link out of range")?;
                if !e.used() || !is_evictable(e) || usize::from(e.state) != l {
                    return Err(format!("list {l}: entry {i} does not belong ({e:?})"));
                }
                if list_of(e.wslot()) != Some(l) || e.wprev != prev {
                    return Err(format!("list {l}: entry {i} badly linked ({e:?})"));
                }
                if prev != NIL && self.entries[prev as usize].expiry > e.expiry {
                    return Err(format!(
                        "list {l}: entry {i} expires before its predecessor"
                    ));
                }
                filed += 1;
                if filed > self.entries.len() {
                    return Err("list cycle".into());
                }
                (prev, i) = (i, e.wnext);
            }
            if self.evict.tail[l] != prev {
                return Err(format!(
                    "list {l}: tail {} is not {prev}",
                    self.evict.tail[l]
                ));
            }
        }
        for (slot, &head) in self.wheel.iter().enumerate() {
            let (mut prev, mut i) = (NIL, head);
            while i != NIL {
                let e = self
                    .entries
                    .get(i as usize)
                    .ok_or("wheel link out of range")?;
                if !e.used() || is_evictable(e) || usize::from(e.wslot()) != slot || e.wprev != prev
                {
                    return Err(format!("wheel slot {slot}: entry {i} misfiled ({e:?})"));
                }
                filed += 1;
                if filed > self.entries.len() {
                    return Err("wheel cycle".into());
                }
                (prev, i) = (i, e.wnext);
            }
        }
        if filed != self.len() {
            return Err(format!("{filed} filed, {} live", self.len()));
        }
        Ok(())
    }
}
