//! The DPDK implementation of the engine's [`Output`]: a worker's processed packets wait for
//! their burst — one TX burst per port, one handoff burst per other worker, one burst for the
//! kernel. Flushed after each RX burst, once more at the end of the loop (handoffs, kernel
//! frames, ARP-parked packets) and whenever a burst fills, so each ring or queue is touched
//! once per batch, not once per packet.

use crate::dpdk::mbuf::Mbuf;
use crate::dpdk::port::QueueRef;
use crate::dpdk::{Burst, Producer};
use crate::lb::route::PortIdx;
use crate::wire::Frame;
use crate::worker::counters::{Counter, WorkerTotals};
use crate::worker::engine::Output;
use crate::worker::meta::{self, Kind};

pub struct Outputs {
    /// This worker's TX queue on each port, if it has one.
    tx_queue: Vec<Option<QueueRef>>,
    tx: Vec<Burst>,
    /// Rings to the other workers (None for ourselves).
    handoff: Vec<Option<Producer>>,
    handoff_burst: Vec<Burst>,
    to_kernel: Producer,
    kernel_burst: Burst,
    /// The worker that transmits for ports where we have no TX queue (it has queue 0 of all).
    relay: usize,
}

impl Outputs {
    pub fn new(
        tx_queue: Vec<Option<QueueRef>>,
        handoff: Vec<Option<Producer>>,
        to_kernel: Producer,
    ) -> Outputs {
        Outputs {
            tx: tx_queue.iter().map(|_| Burst::new()).collect(),
            handoff_burst: handoff.iter().map(|_| Burst::new()).collect(),
            tx_queue,
            handoff,
            to_kernel,
            kernel_burst: Burst::new(),
            relay: 0,
        }
    }

    fn flush_port(&mut self, p: usize, t: &mut WorkerTotals) {
        if let Some(Some(q)) = self.tx_queue.get(p) {
            let (sent, dropped) = self.tx[p].tx(*q);
            t.add(Counter::Tx, sent as u64);
            t.add(Counter::TxDropped, dropped as u64);
        }
    }

    fn flush_handoff(&mut self, w: usize, t: &mut WorkerTotals) {
        if let Some(Some(ring)) = self.handoff.get_mut(w) {
            ring.enqueue(&mut self.handoff_burst[w]);
            let left = self.handoff_burst[w].len();
            if left > 0 {
                t.add(Counter::HandoffRingFull, left as u64);
                self.handoff_burst[w].clear();
            }
        }
    }

    fn flush_kernel(&mut self, t: &mut WorkerTotals) {
        self.to_kernel.enqueue(&mut self.kernel_burst);
        let left = self.kernel_burst.len();
        if left > 0 {
            t.add(Counter::ToKernelRingFull, left as u64);
            self.kernel_burst.clear();
        }
    }

    /// Sends everything staged.
    pub fn flush(&mut self, t: &mut WorkerTotals) {
        for p in 0..self.tx.len() {
            if !self.tx[p].is_empty() {
                self.flush_port(p, t);
            }
        }
        for w in 0..self.handoff_burst.len() {
            if !self.handoff_burst[w].is_empty() {
                self.flush_handoff(w, t);
            }
        }
        if !self.kernel_burst.is_empty() {
            self.flush_kernel(t);
        }
    }
}

impl Output<Mbuf> for Outputs {
    /// Queues `m` to leave by `port`: on our own TX queue there, or through the relay worker.
    #[inline]
    fn transmit(&mut self, port: PortIdx, mut m: Mbuf, t: &mut WorkerTotals) {
        let p = usize::from(port);
        match self.tx_queue.get(p) {
            Some(Some(_)) => {
                if let Err(m) = self.tx[p].push(m) {
                    self.flush_port(p, t);
                    let _ = self.tx[p].push(m);
                }
            }
            Some(None) => {
                m.set_meta(meta::encode(Kind::Transmit, port));
                self.handoff(self.relay, m, t);
            }
            None => t.inc(Counter::DropBadPort),
        }
    }

    /// Queues `m` (tagged by the caller) for worker `w`.
    #[inline]
    fn handoff(&mut self, w: usize, m: Mbuf, t: &mut WorkerTotals) {
        if self.handoff.get(w).is_none_or(|h| h.is_none()) {
            t.inc(Counter::DropNoHandoffRing);
            return;
        }
        t.inc(Counter::HandoffOut);
        if let Err(m) = self.handoff_burst[w].push(m) {
            self.flush_handoff(w, t);
            let _ = self.handoff_burst[w].push(m);
        }
    }

    /// Queues `m` for the kernel behind `port`'s exception interface.
    #[inline]
    fn kernel(&mut self, port: PortIdx, mut m: Mbuf, t: &mut WorkerTotals) {
        m.set_meta(meta::encode(Kind::Kernel, port));
        t.inc(Counter::ToKernel);
        if let Err(m) = self.kernel_burst.push(m) {
            self.flush_kernel(t);
            let _ = self.kernel_burst.push(m);
        }
    }
}
