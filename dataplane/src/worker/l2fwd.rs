//! The L2 forwarding mode: what arrives on one port of a pair leaves by the other, with an
//! optional MAC rewrite. It is the I/O baseline the balancer's performance is measured against
//! (compare testpmd's io and macswap modes), so it does the least a forwarder can.

use super::backoff::Backoff;
use super::counters::{Counter, WorkerCounters, WorkerTotals};
use super::gate::StartGate;
use crate::config::IdleBackoff;
use crate::dpdk::port::QueueRef;
use crate::dpdk::Burst;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// What happens to the Ethernet addresses of a forwarded frame (parsed by config/).
pub use crate::config::MacRewrite;

impl MacRewrite {
    /// Applies the rewrite to one frame; frames shorter than an Ethernet header are left alone
    /// (they are counted by the port as runts and never reach here on real NICs).
    #[inline]
    pub fn apply(&self, frame: &mut [u8], out_mac: &[u8; 6]) {
        if frame.len() < 12 {
            return;
        }
        match self {
            MacRewrite::None => {}
            MacRewrite::Swap => {
                let (dst, rest) = frame.split_at_mut(6);
                dst.swap_with_slice(&mut rest[..6]);
            }
            MacRewrite::NextHop(nh) => {
                frame[..6].copy_from_slice(nh);
                frame[6..12].copy_from_slice(out_mac);
            }
        }
    }
}

/// One direction of a pair as seen by one worker: its RX queue on one port, its TX queue on the
/// other.
#[derive(Clone, Copy, Debug)]
pub struct L2Path {
    pub rx: QueueRef,
    pub tx: QueueRef,
    pub tx_mac: [u8; 6],
}

/// The worker loop of the L2 mode. Returns when `stop` is set.
pub fn run(
    paths: &[L2Path],
    rewrite: MacRewrite,
    burst: usize,
    backoff: IdleBackoff,
    counters: &WorkerCounters,
    stop: &AtomicBool,
    gate: &StartGate,
) {
    // The ports start once every worker is here.
    if !gate.arrive_and_wait(stop) {
        return;
    }
    let mut b = Burst::new();
    let mut t = WorkerTotals::default();
    let mut idle = Backoff::new(backoff);
    let mut loops = 0u64;
    while !stop.load(Relaxed) {
        let mut moved = 0usize;
        for p in paths {
            let n = b.rx(p.rx, burst);
            if n == 0 {
                continue;
            }
            moved += n;
            if rewrite != MacRewrite::None {
                for i in 0..n {
                    rewrite.apply(b.data_mut(i), &p.tx_mac);
                }
            }
            let (sent, dropped) = b.tx(p.tx);
            t.add(Counter::Rx, n as u64);
            t.add(Counter::Tx, sent as u64);
            t.add(Counter::TxDropped, dropped as u64);
        }
        if moved > 0 {
            t.inc(Counter::BusyPolls);
            idle.busy();
        } else {
            t.inc(Counter::IdlePolls);
            idle.idle();
        }
        counters.publish(&t);
        loops += 1;
        counters.loop_done(loops);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites() {
        let mut f = [1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 8, 0];
        MacRewrite::Swap.apply(&mut f, &[9; 6]);
        assert_eq!(&f[..12], &[2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1]);
        let nh = MacRewrite::parse("02:00:00:00:00:11").unwrap();
        nh.apply(&mut f, &[9; 6]);
        assert_eq!(&f[..12], &[2, 0, 0, 0, 0, 0x11, 9, 9, 9, 9, 9, 9]);
        let before = f;
        MacRewrite::None.apply(&mut f, &[9; 6]);
        assert_eq!(f, before);
        let mut short = [1u8, 2, 3];
        MacRewrite::Swap.apply(&mut short, &[0; 6]);
        assert_eq!(short, [1, 2, 3]);
    }

    #[test]
    fn parse_errors() {
        assert!(MacRewrite::parse("02:00:00:00:00").is_err());
        assert!(MacRewrite::parse("zz:00:00:00:00:00").is_err());
        assert!(MacRewrite::parse("02:00:00:00:00:00:00").is_err());
        assert_eq!(MacRewrite::parse("swap"), Ok(MacRewrite::Swap));
    }
}
