//! SYN cookies: the appliance answers a SYN without keeping state, and recognises the
//! handshake's ACK by the sequence number it chose (RFC 4987 section 3.6).
//!
//! A cookie is the initial sequence number of the appliance's SYN-ACK:
//!
//! ```text
//!  31                                8  7   6  5  4   3    2   0
//! +-----------------------------------+-------+-----+----+------+
//! | MAC: 24 bits of SipHash-1-3       | count | 0 0 |sack| mss  |
//! +-----------------------------------+-------+-----+----+------+
//! ```
//!
//! - `mss`: an index into [`MSS_TABLE`] (the largest entry not above the client's MSS);
//! - `sack`: the client offered SACK-permitted;
//! - `count`: the low two bits of the time counter (`now / SYN_COOKIE_PERIOD_SECS`), so that
//!   validation knows which step the cookie was made in and tries one MAC per secret;
//! - the MAC: SipHash-1-3 keyed with the secret, over the 4-tuple, the client's initial
//!   sequence number, the full time counter and the low byte above; its top 24 bits.
//!
//! Window scale and timestamps are not kept (the proxy's SYN-ACK does not offer them, so the
//! connection runs without them; docs/decisions.md says why). Two secrets are valid at once,
//! current and previous; the management thread rotates them every
//! [`crate::tunables::SYN_COOKIE_ROTATE`] and publishes them in the snapshot, so any worker can
//! check a cookie another worker made.
//!
//! Why SipHash-1-3: a keyed PRF built for short inputs (this one is 21 bytes), a few tens of
//! nanoseconds per cookie, the hash Rust's own `HashMap` uses against hash flooding; the
//! `siphasher` crate provides it with explicit keys (std's keyed SipHash is unstable).

use std::hash::Hasher;
use std::net::Ipv4Addr;

use siphasher::sip::SipHasher13;

use crate::tunables::SYN_COOKIE_PERIOD_SECS;

/// MSS values a cookie can carry (3 bits). Linux's table (536, 1300, 1440, 1460) plus the
/// common values of tunnels and PPPoE, so clients behind them keep their MSS.
pub const MSS_TABLE: [u16; 8] = [536, 1200, 1300, 1360, 1400, 1440, 1452, 1460];

/// Periods a cookie stays valid after the one it was made in.
const MAX_AGE: u64 = 1;

/// A 128-bit SipHash key.
pub type Key = [u64; 2];

/// The secrets cookies are made and checked with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CookieSecrets {
    /// Cookies are made with this one.
    pub current: Key,
    /// The one before the last rotation: still accepted.
    pub previous: Key,
}

impl CookieSecrets {
    /// Both secrets the same (start-up).
    pub fn new(key: Key) -> CookieSecrets {
        CookieSecrets {
            current: key,
            previous: key,
        }
    }

    /// Fresh secrets from the OS's randomness (std's `RandomState` is seeded from it).
    pub fn random() -> CookieSecrets {
        CookieSecrets::new(random_key())
    }

    /// `key` becomes current, the current one previous.
    pub fn rotated(self, key: Key) -> CookieSecrets {
        CookieSecrets {
            current: key,
            previous: self.current,
        }
    }
}

/// A random key (two `RandomState` hashes: each state is keyed from the OS's randomness).
pub fn random_key() -> Key {
    use std::hash::BuildHasher;
    let a = std::collections::hash_map::RandomState::new().hash_one(0x5359_4e43u32);
    let b = std::collections::hash_map::RandomState::new().hash_one(0x4f4f_4b49u32);
    [a, b]
}

/// The connection a cookie is for, as the client's SYN names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CookieFlow {
    pub client: Ipv4Addr,
    pub cport: u16,
    pub vip: Ipv4Addr,
    pub vport: u16,
    /// The client's initial sequence number (the SYN's sequence number).
    pub client_isn: u32,
}

/// What a cookie carries of the client's SYN options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CookieOptions {
    pub mss: u16,
    pub sack_permitted: bool,
}

/// The time counter at `now_ms`.
#[inline]
pub fn counter(now_ms: u64) -> u64 {
    now_ms / 1000 / SYN_COOKIE_PERIOD_SECS
}

/// The index of the largest [`MSS_TABLE`] entry not above `mss` (a SYN without the option:
/// 536, the IPv4 default).
#[inline]
pub fn mss_index(mss: Option<u16>) -> u8 {
    let mss = mss.unwrap_or(536);
    MSS_TABLE.iter().rposition(|&m| m <= mss).unwrap_or(0) as u8
}

#[inline]
fn mac(key: &Key, f: &CookieFlow, count: u64, low: u8) -> u32 {
    let mut h = SipHasher13::new_with_keys(key[0], key[1]);
    let mut m = [0u8; 21];
    m[0..4].copy_from_slice(&f.client.octets());
    m[4..8].copy_from_slice(&f.vip.octets());
    m[8..10].copy_from_slice(&f.cport.to_be_bytes());
    m[10..12].copy_from_slice(&f.vport.to_be_bytes());
    m[12..16].copy_from_slice(&f.client_isn.to_be_bytes());
    m[16..20].copy_from_slice(&(count as u32).to_be_bytes());
    m[20] = low;
    h.write(&m);
    (h.finish() >> 40) as u32
}

/// The cookie (the SYN-ACK's sequence number) for `flow` at `now_ms`, made with the current
/// secret.
#[inline]
pub fn make(secrets: &CookieSecrets, flow: &CookieFlow, opts: CookieOptions, now_ms: u64) -> u32 {
    let count = counter(now_ms);
    let low =
        ((count as u8 & 3) << 6) | (u8::from(opts.sack_permitted) << 3) | mss_index(Some(opts.mss));
    (mac(&secrets.current, flow, count, low) << 8) | u32::from(low)
}

/// Checks the cookie `cookie` (the ACK's acknowledgement number - 1) for `flow` at `now_ms`:
/// the options it carries if it is one we made, with either secret, no more than one period
/// ago. At most two MACs are computed.
#[inline]
pub fn check(
    secrets: &CookieSecrets,
    flow: &CookieFlow,
    cookie: u32,
    now_ms: u64,
) -> Option<CookieOptions> {
    let low = cookie as u8;
    if low & 0x30 != 0 {
        return None;
    }
    // The latest counter not after now whose low two bits are the cookie's.
    let now = counter(now_ms);
    let age = (now.wrapping_sub(u64::from(low >> 6))) & 3;
    if age > MAX_AGE || age > now {
        return None;
    }
    let count = now - age;
    let want = cookie >> 8;
    let valid = mac(&secrets.current, flow, count, low) == want
        || (secrets.previous != secrets.current
            && mac(&secrets.previous, flow, count, low) == want);
    valid.then(|| CookieOptions {
        mss: MSS_TABLE[usize::from(low & 7)],
        sack_permitted: low & 8 != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow() -> CookieFlow {
        CookieFlow {
            client: Ipv4Addr::new(198, 51, 100, 7),
            cport: 40000,
            vip: Ipv4Addr::new(198, 18, 0, 100),
            vport: 80,
            client_isn: 0x1234_5678,
        }
    }

    const S: CookieSecrets = CookieSecrets {
        current: [1, 2],
        previous: [3, 4],
    };
    const OPTS: CookieOptions = CookieOptions {
        mss: 1460,
        sack_permitted: true,
    };
    const T0: u64 = 1_000_000_000;

    #[test]
    fn a_cookie_carries_its_options_and_checks() {
        for (mss, sack, want) in [
            (Some(1460), true, 1460),
            (Some(1459), false, 1452),
            (Some(9000), true, 1460),
            (Some(100), false, 536),
            (None, true, 536),
            (Some(1300), false, 1300),
        ] {
            let o = CookieOptions {
                mss: MSS_TABLE[usize::from(mss_index(mss))],
                sack_permitted: sack,
            };
            let c = make(&S, &flow(), o, T0);
            assert_eq!(
                check(&S, &flow(), c, T0),
                Some(CookieOptions {
                    mss: want,
                    sack_permitted: sack
                })
            );
        }
    }

    #[test]
    fn the_cookie_layout_is_as_documented() {
        let c = make(&S, &flow(), OPTS, T0);
        let count = counter(T0);
        assert_eq!(c & 7, 7, "mss index of 1460");
        assert_eq!(c >> 3 & 1, 1, "sack");
        assert_eq!(c >> 4 & 3, 0, "reserved");
        assert_eq!(u64::from(c >> 6 & 3), count & 3, "count");
        // The MAC is SipHash-1-3 of the documented message, its top 24 bits.
        let mut m = Vec::new();
        m.extend_from_slice(&[198, 51, 100, 7, 198, 18, 0, 100]);
        m.extend_from_slice(&40000u16.to_be_bytes());
        m.extend_from_slice(&80u16.to_be_bytes());
        m.extend_from_slice(&0x1234_5678u32.to_be_bytes());
        m.extend_from_slice(&(count as u32).to_be_bytes());
        m.push(c as u8);
        let mut h = SipHasher13::new_with_keys(1, 2);
        h.write(&m);
        assert_eq!(c >> 8, (h.finish() >> 40) as u32);
    }

    #[test]
    fn any_other_flow_isn_or_bit_fails() {
        let c = make(&S, &flow(), OPTS, T0);
        let mut f = flow();
        f.client_isn += 1;
        assert_eq!(check(&S, &f, c, T0), None);
        let mut f = flow();
        f.cport += 1;
        assert_eq!(check(&S, &f, c, T0), None);
        let mut f = flow();
        f.client = Ipv4Addr::new(198, 51, 100, 8);
        assert_eq!(check(&S, &f, c, T0), None);
        // Every single-bit change of the cookie is refused (options included: they are MACed).
        for bit in 0..32 {
            assert_eq!(check(&S, &flow(), c ^ (1 << bit), T0), None, "bit {bit}");
        }
    }

    #[test]
    fn a_cookie_lives_its_period_and_the_next() {
        let period = SYN_COOKIE_PERIOD_SECS * 1000;
        let start = counter(T0) * period;
        let c = make(&S, &flow(), OPTS, start);
        assert!(check(&S, &flow(), c, start + period - 1).is_some());
        assert!(check(&S, &flow(), c, start + 2 * period - 1).is_some());
        assert_eq!(check(&S, &flow(), c, start + 2 * period), None);
        assert_eq!(check(&S, &flow(), c, start + 4 * period), None);
        // A cookie "from the future" (a clock going backwards, a forged count) is refused.
        assert_eq!(check(&S, &flow(), c, start - 1), None);
    }

    #[test]
    fn rotation_keeps_the_previous_secret_for_one_more_round() {
        let c = make(&S, &flow(), OPTS, T0);
        let once = S.rotated([9, 9]);
        assert_eq!(once.previous, S.current);
        assert!(check(&once, &flow(), c, T0).is_some());
        let twice = once.rotated([7, 7]);
        assert_eq!(check(&twice, &flow(), c, T0), None);
        assert_ne!(random_key(), random_key());
    }

    #[test]
    fn a_random_guess_rarely_passes() {
        // 2^-24 per guess and secret: 100 000 guesses pass about 0.012 times.
        let mut passed = 0;
        let mut x = 0x9e37_79b9u32;
        for _ in 0..100_000 {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            passed += u32::from(check(&S, &flow(), x & !0x30, T0).is_some());
        }
        assert!(passed <= 2, "{passed}");
    }
}
