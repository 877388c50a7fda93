//! Expiry: a lazy timer wheel of intrusive lists for the connections that are never evicted
//! (established TCP, UDP, ICMP), and the per-state lists of `evict.rs` for the others.
//!
//! The wheel has a power-of-two number of one-second slots; an entry is filed in the slot of
//! `expiry & mask` through its `wnext`/`wprev` links (no allocation). Filing is lazy: a packet
//! that pushes the expiry later does not move the entry, so the per-packet cost is one store.
//! The invariant is "an entry is filed under a second no later than its expiry"; when the wheel
//! reaches an entry that is not yet due, it re-files it (or leaves it when it belongs to the same
//! slot one or more revolutions later). Expiries further away than the wheel's span simply get
//! visited once per revolution.
//!
//! [`ConnTable::expire`] does at most `budget` units of work (one per slot or entry examined)
//! and remembers where it stopped, so a burst of simultaneous expiries or a long pause between
//! calls never stalls the worker: the backlog drains over the following calls.

use super::ended::EndReason;
use super::entry::NIL;
use super::evict::list_of;
use super::table::{secs_floor, ConnTable, SWEEP_END, SWEEP_START};
use crate::lb::family::Family;

impl<A: Family> ConnTable<A> {
    /// Files `idx` at the head of the slot of its expiry.
    pub(super) fn wheel_link(&mut self, idx: u32) {
        let slot = (self.entries[idx as usize].expiry & self.wheel_mask) as usize;
        let head = self.wheel[slot];
        if head != NIL {
            self.entries[head as usize].wprev = idx;
        }
        let e = &mut self.entries[idx as usize];
        e.wnext = head;
        e.wprev = NIL;
        e.set_wslot(slot as u16);
        self.wheel[slot] = idx;
    }

    /// Takes `idx` out of its wheel slot or eviction list (O(1)), keeping the sweep cursor
    /// valid.
    pub(super) fn wheel_unlink(&mut self, idx: u32) {
        let (prev, next) = {
            let e = &self.entries[idx as usize];
            (e.wprev, e.wnext)
        };
        if self.sweep == idx {
            self.sweep = if next == NIL { SWEEP_END } else { next };
        }
        let wslot = self.entries[idx as usize].wslot();
        if let Some(l) = list_of(wslot) {
            self.list_unlink_ends(l, idx, prev, next);
        } else if prev == NIL && self.wheel.get(usize::from(wslot)) == Some(&idx) {
            self.wheel[usize::from(wslot)] = next;
        }
        if prev != NIL {
            self.entries[prev as usize].wnext = next;
        }
        if next != NIL {
            self.entries[next as usize].wprev = prev;
        }
        let e = &mut self.entries[idx as usize];
        e.wnext = NIL;
        e.wprev = NIL;
    }

    /// Removes connections whose idle timeout has elapsed at `now_ms`, doing at most `budget`
    /// units of work (slots or entries examined). Returns how many connections expired. Call it
    /// regularly (for example once per poll loop iteration with a budget of a few dozen); work
    /// left over is resumed by the next call. It also stops early, before a due connection that
    /// holds a template, when the ended ring is full (so at most `ended_capacity` templated
    /// connections end per call): drain it with [`ConnTable::drain_ended`] after each call.
    pub fn expire(&mut self, now_ms: u64, budget: usize) -> usize {
        let now = secs_floor(now_ms);
        if self.is_empty() {
            // Nothing filed anywhere: jump straight to the present.
            self.wheel_tick = now.saturating_add(1);
            self.sweep = SWEEP_START;
            return 0;
        }
        let span = self.wheel_mask + 1;
        let mut work = 0usize;
        let mut expired = 0usize;
        if !self.expire_lists(now, budget, &mut work, &mut expired) {
            // Ended ring full: stop until the worker drains it.
            return expired;
        }
        while work < budget && self.wheel_tick <= now {
            if self.sweep == SWEEP_START && now - self.wheel_tick >= span {
                // More than one revolution behind: visiting each slot once covers everything.
                self.wheel_tick = now - (span - 1);
            }
            let slot = self.wheel_tick & self.wheel_mask;
            let idx = match self.sweep {
                SWEEP_START => self.wheel[slot as usize],
                SWEEP_END => NIL,
                i => i,
            };
            work += 1;
            if idx == NIL {
                self.wheel_tick += 1;
                self.sweep = SWEEP_START;
                continue;
            }
            let (next, expiry) = {
                let e = &self.entries[idx as usize];
                (e.wnext, e.expiry)
            };
            if expiry <= now && !self.can_end(idx) {
                // Ended ring full: stop here, on this entry, until the worker drains it.
                break;
            }
            self.sweep = if next == NIL { SWEEP_END } else { next };
            if expiry <= now {
                self.release(idx, EndReason::Expired);
                self.stats.expired += 1;
                expired += 1;
            } else if expiry & self.wheel_mask != slot {
                self.wheel_unlink(idx);
                self.wheel_link(idx);
            }
        }
        expired
    }
}
