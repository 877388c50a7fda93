//! Per-worker budgets for what a flood can make the appliance produce or hand on: ICMP errors
//! it generates (a reflector's fuel) and packets for its own kernel (the exception path, which
//! a single management thread serves with one system call per packet). Each is a token bucket
//! on the worker's millisecond clock, like the kernel's `icmp_msgs_per_sec`/`icmp_msgs_burst`:
//! a burst passes at once, a flood is cut to the rate, and every packet over it is dropped and
//! counted under its own reason. No allocation, no atomics: each worker owns its buckets.

pub use crate::tunables::{
    EXCEPTION_BURST, EXCEPTION_PER_SEC, ICMP_ERRORS_BURST, ICMP_ERRORS_PER_SEC,
};

/// `rate` tokens a second, at most `burst` saved up; counted in thousandths of a token so a
/// millisecond tick adds `rate` of them exactly.
#[derive(Clone, Copy, Debug)]
pub struct TokenBucket {
    rate: u64,
    burst_milli: u64,
    milli: u64,
    last_ms: u64,
}

impl TokenBucket {
    /// A full bucket (the first `burst` packets pass at once).
    pub const fn new(rate_per_sec: u64, burst: u64) -> TokenBucket {
        TokenBucket {
            rate: rate_per_sec,
            burst_milli: burst.saturating_mul(1000),
            milli: burst.saturating_mul(1000),
            last_ms: 0,
        }
    }

    /// Takes one token at `now_ms` if there is one. A clock that goes back (replay of an
    /// unordered capture) adds nothing rather than underflowing.
    #[inline]
    pub fn take(&mut self, now_ms: u64) -> bool {
        if now_ms > self.last_ms {
            let earned = (now_ms - self.last_ms).saturating_mul(self.rate);
            self.milli = self.milli.saturating_add(earned).min(self.burst_milli);
            self.last_ms = now_ms;
        }
        if self.milli >= 1000 {
            self.milli -= 1000;
            true
        } else {
            false
        }
    }
}

/// One worker's buckets.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// ICMP errors the worker builds (fragmentation needed).
    pub icmp_errors: TokenBucket,
    /// Packets for the appliance itself given to the kernel (not a local real's traffic,
    /// which is a service's and bounded by the ring alone).
    pub exception: TokenBucket,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            icmp_errors: TokenBucket::new(ICMP_ERRORS_PER_SEC, ICMP_ERRORS_BURST),
            exception: TokenBucket::new(EXCEPTION_PER_SEC, EXCEPTION_BURST),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passed(b: &mut TokenBucket, now: u64, n: usize) -> usize {
        (0..n).filter(|_| b.take(now)).count()
    }

    #[test]
    fn a_burst_passes_then_the_rate() {
        let mut b = TokenBucket::new(1000, 50);
        // At t=5 s: the full burst, nothing more in the same millisecond.
        assert_eq!(passed(&mut b, 5000, 200), 50);
        // One token per millisecond at 1000/s.
        assert_eq!(passed(&mut b, 5001, 10), 1);
        // 30 ms later: 30 tokens.
        assert_eq!(passed(&mut b, 5031, 100), 30);
        // A long pause refills to the burst, not beyond.
        assert_eq!(passed(&mut b, 60_000, 1000), 50);
    }

    #[test]
    fn a_slow_rate_accumulates_thousandths() {
        let mut b = TokenBucket::new(10, 1);
        assert!(b.take(1000));
        // 10/s: one token every 100 ms, earned over many 1 ms steps.
        let mut got = 0;
        for ms in 1001..=2000 {
            got += usize::from(b.take(ms));
        }
        assert_eq!(got, 10);
    }

    #[test]
    fn a_clock_going_back_earns_nothing() {
        let mut b = TokenBucket::new(1000, 2);
        assert_eq!(passed(&mut b, 10_000, 5), 2);
        assert_eq!(passed(&mut b, 9_000, 5), 0);
        assert_eq!(passed(&mut b, 10_001, 5), 1);
    }

    #[test]
    fn a_flood_over_a_second_is_cut_to_the_rate_plus_the_burst() {
        let mut b = TokenBucket::new(ICMP_ERRORS_PER_SEC, ICMP_ERRORS_BURST);
        // 100 packets every millisecond for one second (100 100 packets).
        let got: usize = (0..=1000).map(|ms| passed(&mut b, ms, 100)).sum();
        assert_eq!(got as u64, ICMP_ERRORS_BURST + ICMP_ERRORS_PER_SEC);
    }
}
