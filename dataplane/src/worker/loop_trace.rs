//! Where an LB worker's poll loop spends its time, step by step: a diagnostic for latency work
//! (issue 14, docs/perf.md "Where a half-loaded worker's p99 comes from"). Built only with the
//! cargo feature `loop-trace`; without it `LoopTrace` is an empty type whose methods compile to
//! nothing, so the production loop carries no cost.
//!
//! With the feature, each step's duration (TSC cycles between two marks) and each whole loop's
//! are recorded in a log-linear histogram (four sub-buckets per power of two, so a figure is
//! within 19 % of the true value), and at stop the worker prints one line per step:
//! `loop-trace worker=W step=S n=N p50=.. p99=.. p99.9=.. p99.99=.. max=.. cycles`. Recording is
//! a TSC read, a leading-zero count and an increment: no allocation, lock or syscall.

/// The loop's steps, in loop order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Snapshot adoption (`Engine::follow`).
    Follow = 0,
    /// Receiving and processing the RX queues' bursts.
    Rx,
    /// The handoff rings from other workers, and worker 0's ring from management.
    Rings,
    /// Packets parked for ARP.
    Pending,
    /// Transmitting the staged bursts (`Outputs::flush`).
    Flush,
    /// Linking new connections' replies, expiry, ended connections (`Engine::housekeep`).
    Housekeep,
    /// Connection sync's worker share.
    Sync,
    /// Per-real figures and overload (every `PUBLISH_MS`).
    Publish,
    /// A `ctl conns` listing's share, backoff, counters.
    Tail,
    /// The whole loop, start to start (includes time the thread was descheduled).
    Loop,
}

impl Step {
    pub const COUNT: usize = 10;
    pub const NAMES: [&'static str; Step::COUNT] = [
        "follow",
        "rx",
        "rings",
        "pending",
        "flush",
        "housekeep",
        "sync",
        "publish",
        "tail",
        "loop",
    ];
}

#[cfg(feature = "loop-trace")]
mod imp {
    use super::Step;
    use crate::dpdk::lcore::tsc;

    /// Sub-buckets per power of two.
    const SUB_BITS: u32 = 2;
    const BUCKETS: usize = 64 << SUB_BITS;

    pub struct LoopTrace {
        hist: Box<[[u64; BUCKETS]; Step::COUNT]>,
        max: [u64; Step::COUNT],
        loop_start: u64,
        last: u64,
    }

    /// The bucket of `v` cycles: exact below 4, then four per power of two.
    #[inline(always)]
    fn bucket(v: u64) -> usize {
        if v < (1 << SUB_BITS) {
            return v as usize;
        }
        let exp = 63 - v.leading_zeros();
        let sub = (v >> (exp - SUB_BITS)) & ((1 << SUB_BITS) - 1);
        (((exp - SUB_BITS + 1) << SUB_BITS) as usize) + sub as usize
    }

    /// The smallest value a bucket holds.
    fn bucket_low(b: usize) -> u64 {
        if b < (1 << SUB_BITS) {
            return b as u64;
        }
        let exp = (b >> SUB_BITS) as u32 + SUB_BITS - 1;
        let sub = (b & ((1 << SUB_BITS) - 1)) as u64;
        (1u64 << exp) | (sub << (exp - SUB_BITS))
    }

    impl Default for LoopTrace {
        fn default() -> Self {
            LoopTrace::new()
        }
    }

    impl LoopTrace {
        /// Allocated before the loop starts.
        pub fn new() -> LoopTrace {
            let now = tsc();
            LoopTrace {
                hist: Box::new([[0; BUCKETS]; Step::COUNT]),
                max: [0; Step::COUNT],
                loop_start: now,
                last: now,
            }
        }

        #[inline(always)]
        fn record(&mut self, s: Step, cycles: u64) {
            self.hist[s as usize][bucket(cycles)] += 1;
            if cycles > self.max[s as usize] {
                self.max[s as usize] = cycles;
            }
        }

        /// At the top of each loop: closes the previous loop.
        #[inline(always)]
        pub fn start(&mut self) {
            let now = tsc();
            self.record(Step::Loop, now - self.loop_start);
            self.loop_start = now;
            self.last = now;
        }

        /// Closes step `s` (the time since the previous mark or the loop's start).
        #[inline(always)]
        pub fn mark(&mut self, s: Step) {
            let now = tsc();
            self.record(s, now - self.last);
            self.last = now;
        }

        /// The value at quantile `q` of step `s` (a bucket's lower bound), and the count.
        pub fn quantile(&self, s: Step, q: f64) -> (u64, u64) {
            let h = &self.hist[s as usize];
            let n: u64 = h.iter().sum();
            let want = ((n as f64) * q).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (b, &c) in h.iter().enumerate() {
                seen += c;
                if seen >= want {
                    return (bucket_low(b), n);
                }
            }
            (0, n)
        }

        /// One line per step, printed when the worker stops.
        pub fn report(&self, worker: usize) {
            for (i, name) in Step::NAMES.iter().enumerate() {
                let s = STEPS[i];
                let (p50, n) = self.quantile(s, 0.5);
                let q = |x| self.quantile(s, x).0;
                println!(
                    "loop-trace worker={worker} step={name} n={n} p50={p50} p99={} p99.9={} \
                     p99.99={} max={} cycles",
                    q(0.99),
                    q(0.999),
                    q(0.9999),
                    self.max[i]
                );
            }
        }
    }

    const STEPS: [Step; Step::COUNT] = [
        Step::Follow,
        Step::Rx,
        Step::Rings,
        Step::Pending,
        Step::Flush,
        Step::Housekeep,
        Step::Sync,
        Step::Publish,
        Step::Tail,
        Step::Loop,
    ];

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn buckets_are_monotonic_and_bound_their_values() {
            let mut prev = 0;
            for v in [
                0u64,
                1,
                3,
                4,
                5,
                7,
                8,
                9,
                15,
                16,
                100,
                1000,
                123_456,
                u64::MAX / 3,
            ] {
                let b = bucket(v);
                assert!(b >= prev, "{v}");
                prev = b;
                let low = bucket_low(b);
                assert!(low <= v && v - low <= v / 4, "{v}: bucket {b} from {low}");
            }
        }

        #[test]
        fn quantiles_come_from_the_recorded_values() {
            let mut t = LoopTrace::new();
            for _ in 0..990 {
                t.record(Step::Rx, 100);
            }
            for _ in 0..10 {
                t.record(Step::Rx, 100_000);
            }
            assert_eq!(t.quantile(Step::Rx, 0.5), (96, 1000));
            assert_eq!(t.quantile(Step::Rx, 0.99).0, 96);
            assert_eq!(t.quantile(Step::Rx, 0.999).0, bucket_low(bucket(100_000)));
            assert_eq!(t.max[Step::Rx as usize], 100_000);
        }
    }
}

#[cfg(not(feature = "loop-trace"))]
mod imp {
    use super::Step;

    /// Without the `loop-trace` feature: nothing recorded, nothing printed.
    #[derive(Default)]
    pub struct LoopTrace;

    impl LoopTrace {
        pub fn new() -> LoopTrace {
            LoopTrace
        }
        #[inline(always)]
        pub fn start(&mut self) {}
        #[inline(always)]
        pub fn mark(&mut self, _s: Step) {}
        pub fn report(&self, _worker: usize) {}
    }
}

pub use imp::LoopTrace;
