//! Adaptive idle backoff: a worker that finds its queues empty spins a little, then pauses, then
//! sleeps for a growing time, so an idle appliance on a test VM does not hold its cores at 100 %.
//! The first busy poll resets it. The sleep is a syscall, made only when there is no packet.

use crate::config::IdleBackoff;
use std::time::Duration;

/// Empty polls before pausing, and before sleeping.
const SPIN_POLLS: u32 = 64;
const PAUSE_POLLS: u32 = 1024;
/// Longest sleep: the most latency an idle worker adds to the first packet after idling.
const MAX_SLEEP_US: u64 = 200;

pub struct Backoff {
    mode: IdleBackoff,
    empty: u32,
    sleep_us: u64,
}

impl Backoff {
    pub fn new(mode: IdleBackoff) -> Backoff {
        Backoff {
            mode,
            empty: 0,
            sleep_us: 1,
        }
    }

    /// Called after a poll that moved packets.
    #[inline]
    pub fn busy(&mut self) {
        self.empty = 0;
        self.sleep_us = 1;
    }

    /// Called after a poll that found nothing.
    #[inline]
    pub fn idle(&mut self) {
        if self.mode == IdleBackoff::Off {
            return;
        }
        self.empty = self.empty.saturating_add(1);
        if self.empty < SPIN_POLLS {
            return;
        }
        if self.empty < PAUSE_POLLS {
            crate::dpdk::lcore::pause();
            return;
        }
        std::thread::sleep(Duration::from_micros(self.sleep_us));
        self.sleep_us = (self.sleep_us * 2).min(MAX_SLEEP_US);
    }
}
