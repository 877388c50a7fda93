//! The workers' notion of now, in milliseconds: the TSC when live, the capture's timestamps in
//! replay (so a test can advance time by writing timestamps). Read once per burst.

use crate::dpdk::lcore;

pub enum Clock {
    Tsc {
        start: u64,
        ticks_per_ms: u64,
    },
    /// Replay: the latest RX timestamp seen (net_pcap stamps in microseconds).
    Capture {
        now_ms: u64,
    },
}

impl Clock {
    pub fn live() -> Clock {
        Clock::Tsc {
            start: lcore::tsc(),
            ticks_per_ms: (lcore::tsc_hz() / 1000).max(1),
        }
    }

    pub fn capture() -> Clock {
        Clock::Capture { now_ms: 0 }
    }

    #[inline]
    pub fn now_ms(&self) -> u64 {
        match self {
            Clock::Tsc {
                start,
                ticks_per_ms,
            } => (lcore::tsc() - start) / ticks_per_ms,
            Clock::Capture { now_ms } => *now_ms,
        }
    }

    /// Replay: moves time forward to a packet's capture timestamp (never backwards).
    #[inline]
    pub fn observe(&mut self, rx_timestamp_us: Option<u64>) {
        if let (Clock::Capture { now_ms }, Some(us)) = (self, rx_timestamp_us) {
            *now_ms = (*now_ms).max(us / 1000);
        }
    }
}
