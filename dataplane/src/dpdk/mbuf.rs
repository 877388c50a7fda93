//! Mbufs: one owned packet (`Mbuf`) and a fixed-capacity burst (`Burst`) that the workers move
//! packets through. No allocation after construction; dropping frees what is still held.

use super::mempool::Mempool;
use crate::wire::Frame;
use std::ptr::NonNull;

pub use crate::tunables::MAX_BURST;

type RawMbuf = *mut dpdk_sys::rte_mbuf;

/// One owned packet buffer; freed on drop.
pub struct Mbuf(NonNull<dpdk_sys::rte_mbuf>);

impl Mbuf {
    /// Allocates an empty mbuf from `pool`; None when the pool is empty.
    pub fn alloc(pool: &Mempool) -> Option<Mbuf> {
        // SAFETY: the pool is live; returns null when empty.
        NonNull::new(unsafe { dpdk_sys::shim_rte_pktmbuf_alloc(pool.as_ptr()) }).map(Mbuf)
    }

    /// Grows the packet by `len` bytes at the end; None when there is no tailroom.
    pub fn append(&mut self, len: u16) -> Option<&mut [u8]> {
        // SAFETY: valid owned mbuf; returns null without room.
        let p = unsafe { dpdk_sys::shim_rte_pktmbuf_append(self.0.as_ptr(), len) };
        // SAFETY: DPDK reserved `len` bytes at `p` inside this mbuf.
        NonNull::new(p)
            .map(|p| unsafe { std::slice::from_raw_parts_mut(p.as_ptr().cast(), len as usize) })
    }

    /// The driver's RX timestamp, when it set one (net_pcap: the capture's time).
    #[inline]
    pub fn rx_timestamp(&self) -> Option<u64> {
        // SAFETY: valid mbuf.
        unsafe { super::dynfield::rx_timestamp(self.0.as_ptr()) }
    }

    fn into_raw(self) -> RawMbuf {
        let p = self.0.as_ptr();
        std::mem::forget(self);
        p
    }
}

/// The engine's view of a packet (single segment: the data path only handles contiguous
/// packets).
impl Frame for Mbuf {
    #[inline]
    fn data(&self) -> &[u8] {
        // SAFETY: data pointer and length of a valid mbuf we own.
        unsafe { seg(self.0.as_ptr()) }
    }

    #[inline]
    fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: as `data`, and we hold the only reference.
        unsafe { seg_mut(self.0.as_ptr()) }
    }

    #[inline]
    fn prepend(&mut self, len: u16) -> bool {
        // SAFETY: valid owned mbuf; returns null without room and changes nothing.
        !unsafe { dpdk_sys::shim_rte_pktmbuf_prepend(self.0.as_ptr(), len) }.is_null()
    }

    #[inline]
    fn adj(&mut self, len: u16) -> bool {
        // SAFETY: valid owned mbuf.
        !unsafe { dpdk_sys::shim_rte_pktmbuf_adj(self.0.as_ptr(), len) }.is_null()
    }

    #[inline]
    fn trim(&mut self, len: u16) -> bool {
        // SAFETY: valid owned mbuf.
        unsafe { dpdk_sys::shim_rte_pktmbuf_trim(self.0.as_ptr(), len) == 0 }
    }

    /// Our 32-bit tag (see `dynfield`); 0 until set.
    #[inline]
    fn meta(&self) -> u32 {
        // SAFETY: valid mbuf.
        unsafe { super::dynfield::meta(self.0.as_ptr()) }
    }

    #[inline]
    fn set_meta(&mut self, v: u32) {
        // SAFETY: valid mbuf we own.
        unsafe { super::dynfield::set_meta(self.0.as_ptr(), v) }
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: we own the mbuf (and its chain).
        unsafe { dpdk_sys::shim_rte_pktmbuf_free(self.0.as_ptr()) }
    }
}

/// # Safety
/// `m` must be a valid mbuf that outlives the returned slice.
#[inline(always)]
unsafe fn seg<'a>(m: RawMbuf) -> &'a [u8] {
    // Read the fields directly rather than through the shim: this runs for every packet and a
    // cross-language call cannot be inlined.
    // SAFETY: data_len bytes from buf_addr + data_off lie inside the mbuf's buffer.
    unsafe {
        let m = &*m;
        let p = m.buf_addr.cast::<u8>().add(usize::from(m.data_off));
        std::slice::from_raw_parts(p, usize::from(m.data_len))
    }
}

/// # Safety
/// As `seg`, and no other reference to the mbuf's data may exist.
#[inline(always)]
unsafe fn seg_mut<'a>(m: RawMbuf) -> &'a mut [u8] {
    // SAFETY: see `seg`; exclusivity is the caller's promise.
    unsafe {
        let m = &*m;
        let p = m.buf_addr.cast::<u8>().add(usize::from(m.data_off));
        std::slice::from_raw_parts_mut(p, usize::from(m.data_len))
    }
}

/// Up to MAX_BURST owned packets in arrival order. Used for RX, TX and ring transfers.
pub struct Burst {
    pkts: [RawMbuf; MAX_BURST],
    len: usize,
}

// SAFETY: a Burst owns its mbufs exclusively; handing that ownership to another thread (a
// worker at launch) is how DPDK packets move between lcores.
unsafe impl Send for Burst {}

impl Default for Burst {
    fn default() -> Self {
        Self::new()
    }
}

impl Burst {
    pub const fn new() -> Burst {
        Burst {
            pkts: [std::ptr::null_mut(); MAX_BURST],
            len: 0,
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Receives up to `max` packets from an RX queue, appended after those already held.
    #[inline]
    pub fn rx(&mut self, q: super::port::QueueRef, max: usize) -> usize {
        let room = (MAX_BURST - self.len).min(max);
        // SAFETY: `q` names a started port's queue, polled only by this worker; the array has
        // `room` free slots from `len`.
        let n = unsafe {
            dpdk_sys::shim_rte_eth_rx_burst(
                q.port,
                q.queue,
                self.pkts.as_mut_ptr().add(self.len),
                room as u16,
            )
        } as usize;
        self.len += n;
        n
    }

    /// Transmits every held packet on a TX queue; what the queue does not take is freed.
    /// Returns (sent, dropped). The burst is empty afterwards.
    #[inline]
    pub fn tx(&mut self, q: super::port::QueueRef) -> (usize, usize) {
        if self.len == 0 {
            return (0, 0);
        }
        // SAFETY: `q` names a started port's TX queue owned by this worker; the first `len`
        // pointers are valid mbufs we own, whose ownership passes to the driver when sent.
        let sent = unsafe {
            dpdk_sys::shim_rte_eth_tx_burst(
                q.port,
                q.queue,
                self.pkts.as_mut_ptr(),
                self.len as u16,
            )
        } as usize;
        let dropped = self.len - sent;
        if dropped > 0 {
            // SAFETY: the unsent tail is still ours.
            unsafe {
                dpdk_sys::shim_rte_pktmbuf_free_bulk(
                    self.pkts.as_mut_ptr().add(sent),
                    dropped as u32,
                )
            };
        }
        self.len = 0;
        (sent, dropped)
    }

    /// Bytes of packet `i` (panics if `i >= len`, like slice indexing).
    #[inline]
    pub fn data(&self, i: usize) -> &[u8] {
        assert!(i < self.len);
        // SAFETY: `i < len`, so the pointer is a valid mbuf we own.
        unsafe { seg(self.pkts[i]) }
    }

    /// Mutable bytes of packet `i`.
    #[inline]
    pub fn data_mut(&mut self, i: usize) -> &mut [u8] {
        assert!(i < self.len);
        // SAFETY: as `data`; `&mut self` makes the access exclusive.
        unsafe { seg_mut(self.pkts[i]) }
    }

    /// Adds a packet; gives it back when the burst is full.
    #[inline]
    pub fn push(&mut self, m: Mbuf) -> Result<(), Mbuf> {
        if self.len == MAX_BURST {
            return Err(m);
        }
        self.pkts[self.len] = m.into_raw();
        self.len += 1;
        Ok(())
    }

    /// Takes every packet out, in order, leaving the burst empty.
    #[inline]
    pub fn drain(&mut self) -> impl Iterator<Item = Mbuf> + '_ {
        let n = std::mem::replace(&mut self.len, 0);
        // SAFETY: the first `n` pointers are valid owned mbufs, each handed out exactly once.
        self.pkts[..n]
            .iter()
            .map(|&p| Mbuf(unsafe { NonNull::new_unchecked(p) }))
    }

    /// Frees every held packet.
    pub fn clear(&mut self) {
        if self.len > 0 {
            // SAFETY: the first `len` pointers are valid owned mbufs.
            unsafe {
                dpdk_sys::shim_rte_pktmbuf_free_bulk(self.pkts.as_mut_ptr(), self.len as u32)
            };
            self.len = 0;
        }
    }

    pub(crate) fn raw_parts(&mut self) -> (&mut [RawMbuf; MAX_BURST], &mut usize) {
        (&mut self.pkts, &mut self.len)
    }
}

impl Drop for Burst {
    fn drop(&mut self) {
        self.clear();
    }
}
