//! The packet pool's size from everything that can hold one of its mbufs at the same time.
//! Established traffic needs an mbuf at every receive (the PMD refills the RX descriptor it
//! took); the pool runs dry (`rx_nombuf`, DPVS #446/#873) only if the places packets wait in
//! can together hold more than the pool has beyond the descriptors. Every such place here is
//! bounded — the handoff rings, the exception path's rings (workers -> management -> worker 0),
//! the ARP wait queues, the bursts being staged, the per-core caches — so the pool is sized to
//! hold all of them full at once, and an explicit `eal.mbufs` below that sum is refused at
//! start: a flood can fill a queue and lose packets there (each counted), never starve RX.

use crate::config::{Config, Mode};
use crate::tunables::{
    HANDOFF_MBUFS, HANDOFF_RING, HANDOFF_RING_MIN, KERNEL_RING, MAX_BURST, MEMPOOL_CACHE,
    MEMPOOL_SPARE, PENDING_PACKETS,
};

/// Slots of each handoff ring with `workers` workers: their share of [`HANDOFF_MBUFS`].
pub fn handoff_ring(workers: u32) -> u32 {
    let rings = (workers * workers.saturating_sub(1)).max(1);
    let share = (HANDOFF_MBUFS / rings).max(1);
    // The largest power of two within the share.
    let pow = 1u32 << (31 - share.leading_zeros());
    pow.clamp(HANDOFF_RING_MIN, HANDOFF_RING)
}

/// Descriptors of each exception interface's queue (net_tap; mgmt/exception.rs).
pub const TAP_DESCRIPTORS: u32 = 512;

/// The most mbufs each kind of holder can keep at once, for one config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MbufHolders {
    /// RX and TX descriptors of every queue of every port.
    pub descriptors: u32,
    /// The exception interfaces' own descriptors.
    pub taps: u32,
    /// What each worker stages in one loop (everything it takes in a loop — a burst from each
    /// port's RX queue, from each peer's handoff ring and from the management thread — waits in
    /// its TX, handoff or kernel bursts until the loop's flush) and every lcore's mempool cache
    /// (DPDK lets a cache grow to 1.5x its size before flushing).
    pub staging: u32,
    /// Worker-to-worker handoff rings, full.
    pub handoff_rings: u32,
    /// The exception path full: every worker's ring to the management thread, its ring to
    /// worker 0, and the management thread's two bursts.
    pub exception: u32,
    /// Every worker's ARP wait queue, full.
    pub arp_queues: u32,
}

impl MbufHolders {
    /// The holders of `cfg` run with `cfg.workers.cores.len()` workers.
    pub fn of(cfg: &Config) -> MbufHolders {
        let n = cfg.workers.cores.len() as u32;
        let burst = u32::from(cfg.workers.burst);
        let ports = cfg.ports.len() as u32;
        let descriptors = cfg
            .ports
            .iter()
            .map(|p| (u32::from(p.rx_desc) + u32::from(p.tx_desc)) * n)
            .sum();
        let caches = (n + 1) * (MEMPOOL_CACHE + MEMPOOL_CACHE / 2);
        let per_worker = burst * (ports + n.saturating_sub(1) + 1);
        let lb = cfg.mode == Mode::Lb;
        let taps = if lb {
            let with_tap = cfg
                .ports
                .iter()
                .filter(|p| crate::mgmt::exception::iface_name(p).is_some())
                .count() as u32;
            with_tap * 2 * TAP_DESCRIPTORS
        } else {
            0
        };
        MbufHolders {
            descriptors,
            taps,
            staging: n * per_worker + caches,
            handoff_rings: if lb {
                n * n.saturating_sub(1) * handoff_ring(n)
            } else {
                0
            },
            exception: if lb {
                (n + 1) * KERNEL_RING + 2 * MAX_BURST as u32
            } else {
                0
            },
            arp_queues: if lb { n * PENDING_PACKETS as u32 } else { 0 },
        }
    }

    /// Every holder full at once.
    pub fn total(&self) -> u32 {
        self.descriptors
            + self.taps
            + self.staging
            + self.handoff_rings
            + self.exception
            + self.arp_queues
    }

    /// The pool: `eal.mbufs` if set and large enough, else every holder plus
    /// [`MEMPOOL_SPARE`] (not rounded up to 2^k - 1, DPDK's most compact size: the sum is
    /// already generous, and rounding could double it). An explicit size below what can be
    /// held at once is refused with what it must be.
    pub fn pool(cfg: &Config) -> Result<u32, String> {
        let h = MbufHolders::of(cfg);
        let need = h.total();
        match cfg.eal.mbufs {
            0 => Ok(need + MEMPOOL_SPARE),
            n if n >= need => Ok(n),
            n => Err(format!(
                "eal.mbufs: {n} mbufs are fewer than the appliance may hold at once ({need}: \
                 descriptors {}, exception interfaces {}, bursts and caches {}, handoff rings {}, \
                 exception path {}, ARP queues {}); a flood could then starve reception. \
                 Set at least {need}, or 0 to size the pool automatically",
                h.descriptors, h.taps, h.staging, h.handoff_rings, h.exception, h.arp_queues
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(workers: &str, extra: &str) -> Config {
        let yaml = format!(
            "eal: {{lcores: \"0-2\", memory_mb: 256, hugepages: off{extra}}}\n\
             workers: {{cores: {workers}}}\nmode: lb\n\
             ports:\n  - {{name: ext, device: net_null0, ip: 198.18.0.1/24}}\n  \
             - {{name: int, device: net_null1, ip: 198.19.0.1/24, exception: none}}\n\
             services: []\n"
        );
        crate::config::load_str(&yaml).unwrap()
    }

    #[test]
    fn every_holder_of_two_workers_is_counted() {
        let h = MbufHolders::of(&config("[1, 2]", ""));
        let d = u32::from(crate::tunables::DEFAULT_DESCRIPTORS);
        assert_eq!(h.descriptors, 2 * 2 * 2 * d);
        // One port has an exception interface.
        assert_eq!(h.taps, 2 * TAP_DESCRIPTORS);
        assert_eq!(h.handoff_rings, 2 * HANDOFF_RING);
        assert_eq!(handoff_ring(2), HANDOFF_RING);
        assert_eq!(h.exception, 3 * KERNEL_RING + 2 * MAX_BURST as u32);
        assert_eq!(h.arp_queues, 2 * PENDING_PACKETS as u32);
        // Two workers, each taking a burst of 32 from 2 ports, 1 peer and the management
        // thread per loop; 3 caches (2 workers and the management thread).
        assert_eq!(h.staging, 2 * 4 * 32 + 3 * (MEMPOOL_CACHE * 3 / 2));
    }

    /// The automatic pool holds every queue full with the descriptors still refilled: what
    /// the exception path and the ARP queues may hold is a bounded share of it.
    #[test]
    fn the_automatic_pool_covers_every_holder_with_room_to_spare() {
        for workers in ["[1]", "[1, 2]"] {
            let cfg = config(workers, "");
            let h = MbufHolders::of(&cfg);
            let pool = MbufHolders::pool(&cfg).unwrap();
            assert_eq!(pool, h.total() + MEMPOOL_SPARE, "{workers}: {h:?}");
            // The attacker-reachable queues together stay under a quarter of the pool.
            assert!(4 * (h.exception + h.arp_queues) < pool, "{workers}: {h:?}");
        }
    }

    #[test]
    fn an_explicit_pool_below_what_may_be_held_is_refused_by_key() {
        let cfg = config("[1, 2]", ", mbufs: 4095");
        let need = MbufHolders::of(&cfg).total();
        let e = MbufHolders::pool(&cfg).unwrap_err();
        assert!(e.starts_with("eal.mbufs: 4095 mbufs are fewer"), "{e}");
        assert!(e.contains(&format!("Set at least {need},")), "{e}");
        let enough = config("[1, 2]", &format!(", mbufs: {need}"));
        assert_eq!(MbufHolders::pool(&enough), Ok(need));
    }

    #[test]
    fn handoff_rings_share_a_fixed_budget() {
        assert_eq!(handoff_ring(1), HANDOFF_RING);
        assert_eq!(handoff_ring(2), 4096);
        assert_eq!(handoff_ring(3), 1024);
        assert_eq!(handoff_ring(4), 512);
        assert_eq!(handoff_ring(16), HANDOFF_RING_MIN);
        for n in 2..=4 {
            assert!(n * (n - 1) * handoff_ring(n) <= HANDOFF_MBUFS, "{n}");
        }
    }

    #[test]
    fn l2fwd_has_no_lb_queues() {
        let yaml = "eal: {lcores: \"0-1\", memory_mb: 64, hugepages: off}\n\
                    workers: {cores: [1]}\n\
                    ports:\n  - {name: a, device: \"net_null0\"}\n\
                    mode: l2fwd\nl2fwd: {pairs: [[a, a]]}\n";
        let h = MbufHolders::of(&crate::config::load_str(yaml).unwrap());
        assert_eq!(
            (h.taps, h.handoff_rings, h.exception, h.arp_queues),
            (0, 0, 0, 0)
        );
    }
}
