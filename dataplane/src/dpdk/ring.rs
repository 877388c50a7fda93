//! Single-producer/single-consumer rings of mbufs, the handoff path between workers.
//! The two ends are separate, non-cloneable handles so that the SP/SC contract holds by
//! construction: one thread enqueues, one dequeues.

use super::cstr::c;
use super::mbuf::{Burst, MAX_BURST};
use anyhow::{bail, Result};
use std::ffi::c_void;
use std::ptr::NonNull;
use std::sync::Arc;

struct RingInner(NonNull<dpdk_sys::rte_ring>);

// SAFETY: an SP/SC rte_ring is safe with one producer thread and one consumer thread at a time,
// which `Producer`/`Consumer` (one of each, not Clone) guarantee.
unsafe impl Send for RingInner {}
// SAFETY: see Send.
unsafe impl Sync for RingInner {}

impl RingInner {
    /// Dequeues and frees every packet left; returns how many there were. Only for the last
    /// owner of the ring (both ends gone), which makes the dequeue exclusive.
    fn free_remaining(&mut self) -> usize {
        let mut b = Burst::new();
        let mut total = 0;
        loop {
            let (pkts, len) = b.raw_parts();
            // SAFETY: `&mut self` on the last owner: no producer or consumer is left, so this
            // is the only thread touching the ring; dequeued mbufs become ours (freed below).
            let n = unsafe {
                dpdk_sys::shim_rte_ring_dequeue_burst(
                    self.0.as_ptr(),
                    pkts.as_mut_ptr().cast::<*mut c_void>(),
                    MAX_BURST as u32,
                    std::ptr::null_mut(),
                )
            } as usize;
            *len = n;
            b.clear();
            if n == 0 {
                return total;
            }
            total += n;
        }
    }

    fn count(&self) -> u32 {
        // SAFETY: a read-only query of the ring's head and tail indices, safe beside a running
        // producer and consumer (the answer may be stale by the time it is used).
        unsafe { dpdk_sys::shim_rte_ring_count(self.0.as_ptr()) }
    }
}

impl Drop for RingInner {
    fn drop(&mut self) {
        self.free_remaining();
        // SAFETY: the ring is empty and unreferenced.
        unsafe { dpdk_sys::rte_ring_free(self.0.as_ptr()) }
    }
}

/// A new SP/SC ring of `size` slots (rounded up to a power of two by the caller's choice of size).
pub struct Ring;

impl Ring {
    /// Creates a ring and returns its two ends.
    pub fn spsc(name: &str, size: u32) -> Result<(Producer, Consumer)> {
        let cname = c(name)?;
        // SAFETY: valid name (DPDK copies it); the flag and socket constants are immutable.
        // Null on failure with rte_errno set.
        let p = unsafe {
            let flags = dpdk_sys::shim_RING_F_SP_ENQ
                | dpdk_sys::shim_RING_F_SC_DEQ
                | dpdk_sys::shim_RING_F_EXACT_SZ;
            dpdk_sys::rte_ring_create(cname.as_ptr(), size, dpdk_sys::shim_SOCKET_ID_ANY, flags)
        };
        let Some(ptr) = NonNull::new(p) else {
            bail!(
                "cannot create ring `{name}`: {}",
                super::strerror(super::errno())
            );
        };
        let inner = Arc::new(RingInner(ptr));
        Ok((Producer(inner.clone()), Consumer(inner)))
    }
}

/// The enqueue end.
pub struct Producer(Arc<RingInner>);
/// The dequeue end.
pub struct Consumer(Arc<RingInner>);

impl Producer {
    /// Moves as many packets as fit from `b` into the ring (from the front, order kept); what
    /// did not fit stays in `b` (shifted to the front). Returns the number moved.
    #[inline]
    pub fn enqueue(&mut self, b: &mut Burst) -> usize {
        let (pkts, len) = b.raw_parts();
        if *len == 0 {
            return 0;
        }
        // SAFETY: the first `len` pointers are owned mbufs; those enqueued pass to the consumer.
        let n = unsafe {
            dpdk_sys::shim_rte_ring_enqueue_burst(
                self.0 .0.as_ptr(),
                pkts.as_ptr().cast::<*mut c_void>(),
                *len as u32,
                std::ptr::null_mut(),
            )
        } as usize;
        pkts.copy_within(n..*len, 0);
        *len -= n;
        n
    }
}

impl Consumer {
    /// Appends up to `max` packets from the ring to `b`.
    #[inline]
    pub fn dequeue(&mut self, b: &mut Burst, max: usize) -> usize {
        let (pkts, len) = b.raw_parts();
        let room = (MAX_BURST - *len).min(max);
        // SAFETY: `room` free slots from `len`; dequeued mbufs become ours.
        let n = unsafe {
            dpdk_sys::shim_rte_ring_dequeue_burst(
                self.0 .0.as_ptr(),
                pkts.as_mut_ptr().add(*len).cast::<*mut c_void>(),
                room as u32,
                std::ptr::null_mut(),
            )
        } as usize;
        *len += n;
        n
    }

    /// Packets waiting in the ring.
    pub fn count(&self) -> u32 {
        self.0.count()
    }

    /// A handle that can only look at the ring (and free what is left once both ends are gone).
    pub fn watch(&self) -> RingWatch {
        RingWatch(self.0.clone())
    }
}

/// A third handle on a ring that neither enqueues nor dequeues while the ends live, so the SP/SC
/// contract holds: the management thread uses it to see that a ring is empty (replay's drain)
/// and, at shutdown, to free and count what was never dequeued.
pub struct RingWatch(Arc<RingInner>);

impl RingWatch {
    /// Packets in the ring now (a snapshot: the ends may be moving).
    pub fn len(&self) -> u32 {
        self.0.count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Once the producer and consumer are both dropped: frees the packets still in the ring
    /// and returns how many there were. While an end lives, gives the watch back untouched.
    pub fn free_remaining(self) -> Result<usize, RingWatch> {
        match Arc::try_unwrap(self.0) {
            Ok(mut inner) => Ok(inner.free_remaining()),
            Err(shared) => Err(RingWatch(shared)),
        }
    }
}
