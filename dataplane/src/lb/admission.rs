//! Which new connections a service takes: its access list (allow/deny prefixes), its optional
//! maximum of connections, and its reals' connection thresholds (IPVS's `-x`/`-y`). Built by
//! the control plane with each snapshot, read by the workers only when a packet would open a
//! connection (`worker/engine/admission.rs`): established traffic never looks at it.
//!
//! # Thresholds, as IPVS keeps them
//! IPVS counts a real's connections as `activeconns + inactconns` (`ip_vs_dest_totalconns`:
//! every connection, in any TCP state, not the persistence templates). When a connection is
//! bound and the count reaches the upper threshold the real is marked overloaded
//! (`IP_VS_DEST_F_OVERLOAD`), and the schedulers skip it as they skip a weight-0 real. When a
//! connection is unbound, the mark is cleared once the count is below the lower threshold, or,
//! without one, once `count * 4 < upper * 3` (below three quarters of the upper one). Raising or
//! removing the upper threshold clears the mark at once. [`Thresholds::overloaded`] is that
//! rule as a function of the previous mark and the current count.

use crate::config::{self, Ipv4Net};
use std::net::Ipv4Addr;

/// A set of IPv4 prefixes as sorted, disjoint, non-adjacent address ranges: a lookup is one
/// binary search, whatever the prefixes' lengths and overlaps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrefixSet {
    /// Inclusive (first, last) address ranges, sorted by `first`.
    ranges: Box<[(u32, u32)]>,
}

impl PrefixSet {
    /// The set of addresses in any of `prefixes` (control-plane time: allocates).
    pub fn build(prefixes: &[Ipv4Net]) -> PrefixSet {
        let mut r: Vec<(u32, u32)> = prefixes
            .iter()
            .map(|p| {
                let first = u32::from(p.network());
                (first, first | !p.mask())
            })
            .collect();
        r.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(r.len());
        for (first, last) in r {
            match merged.last_mut() {
                // Overlapping or adjacent: one range.
                Some(m) if first <= m.1.saturating_add(1) => m.1 = m.1.max(last),
                _ => merged.push((first, last)),
            }
        }
        PrefixSet {
            ranges: merged.into_boxed_slice(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Is `a` in the set? O(log ranges), no allocation.
    #[inline]
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        let a = u32::from(a);
        // The first range starting after `a`; `a` can only be in the one before it.
        let i = self.ranges.partition_point(|&(first, _)| first <= a);
        i > 0 && a <= self.ranges[i - 1].1
    }

    /// The ranges (for tests and listings).
    pub fn ranges(&self) -> &[(u32, u32)] {
        &self.ranges
    }
}

/// A service's access list for new connections.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Acl {
    pub allow: PrefixSet,
    pub deny: PrefixSet,
}

impl Acl {
    pub fn build(cfg: &config::Acl) -> Acl {
        Acl {
            allow: PrefixSet::build(&cfg.allow),
            deny: PrefixSet::build(&cfg.deny),
        }
    }

    /// May `client` open a connection? Deny wins; an empty allow list allows everyone.
    #[inline]
    pub fn admits(&self, client: Ipv4Addr) -> bool {
        !self.deny.contains(client) && (self.allow.is_empty() || self.allow.contains(client))
    }
}

/// A real's connection thresholds (ipvsadm's `-x`/`-y`); 0 is unset, as in IPVS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Thresholds {
    pub upper: u32,
    pub lower: u32,
}

impl Thresholds {
    /// Does this real have a limit at all?
    #[inline]
    pub fn is_set(&self) -> bool {
        self.upper != 0
    }

    /// Is the real overloaded with `total` connections (active + inactive), given whether it
    /// was (the mark's hysteresis; see the module doc)?
    #[inline]
    pub fn overloaded(&self, was: bool, total: u64) -> bool {
        let upper = u64::from(self.upper);
        if upper == 0 {
            return false;
        }
        if total >= upper {
            return true;
        }
        if !was {
            return false;
        }
        // Still overloaded until the count falls below the lower threshold.
        if self.lower != 0 {
            total >= u64::from(self.lower)
        } else {
            total * 4 >= upper * 3
        }
    }
}

/// One service's admission rules; the default admits everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceAdmission {
    pub acl: Option<Acl>,
    /// Most connections of the service at once (0: no limit).
    pub max_connections: u32,
    /// Per real, in the service's real order; empty when no real has a threshold.
    pub thresholds: Box<[Thresholds]>,
}

impl ServiceAdmission {
    pub fn build(s: &config::Service) -> ServiceAdmission {
        let thresholds: Vec<Thresholds> = s
            .reals
            .iter()
            .map(|r| Thresholds {
                upper: r.upper_threshold.unwrap_or(0),
                lower: r.lower_threshold.unwrap_or(0),
            })
            .collect();
        let any = thresholds.iter().any(Thresholds::is_set);
        ServiceAdmission {
            acl: s.acl.as_ref().map(Acl::build),
            max_connections: s.max_connections.unwrap_or(0),
            thresholds: if any {
                thresholds.into_boxed_slice()
            } else {
                Box::default()
            },
        }
    }

    /// The thresholds of the real at `index` (unset if it has none).
    #[inline]
    pub fn thresholds_of(&self, index: usize) -> Thresholds {
        self.thresholds.get(index).copied().unwrap_or_default()
    }
}

/// The admission rules of every service of a snapshot, in service order.
#[derive(Clone, Debug, Default)]
pub struct AdmissionTable {
    services: Box<[ServiceAdmission]>,
}

impl AdmissionTable {
    /// From the config's services, in their order (the order of the snapshot's service table).
    pub fn build(services: &[config::Service]) -> AdmissionTable {
        AdmissionTable {
            services: services.iter().map(ServiceAdmission::build).collect(),
        }
    }

    /// Service `si`'s rules, if it has any entry.
    #[inline]
    pub fn get(&self, si: usize) -> Option<&ServiceAdmission> {
        self.services.get(si)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    fn set(list: &[&str]) -> PrefixSet {
        PrefixSet::build(&list.iter().map(|s| net(s)).collect::<Vec<_>>())
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn prefixes_merge_into_ranges() {
        let s = set(&[
            "198.18.0.0/24",
            "198.18.1.0/24",
            "198.18.0.128/25",
            "203.0.113.7/32",
        ]);
        let r = |a: &str, b: &str| (u32::from(ip(a)), u32::from(ip(b)));
        assert_eq!(
            s.ranges(),
            [
                r("198.18.0.0", "198.18.1.255"),
                r("203.0.113.7", "203.0.113.7")
            ]
        );
        for (a, want) in [
            ("198.17.255.255", false),
            ("198.18.0.0", true),
            ("198.18.1.255", true),
            ("198.18.2.0", false),
            ("203.0.113.6", false),
            ("203.0.113.7", true),
            ("203.0.113.8", false),
        ] {
            assert_eq!(s.contains(ip(a)), want, "{a}");
        }
        let all = set(&["0.0.0.0/0"]);
        assert!(all.contains(ip("0.0.0.0")) && all.contains(ip("255.255.255.255")));
        assert!(!PrefixSet::default().contains(ip("198.18.0.1")));
    }

    #[test]
    fn deny_wins_and_an_empty_allow_list_allows_all() {
        let acl = Acl {
            allow: set(&["198.18.0.0/24"]),
            deny: set(&["198.18.0.3/32"]),
        };
        assert!(acl.admits(ip("198.18.0.2")));
        assert!(!acl.admits(ip("198.18.0.3")), "deny wins over allow");
        assert!(!acl.admits(ip("203.0.113.1")), "not in allow");
        let deny_only = Acl {
            allow: PrefixSet::default(),
            deny: set(&["198.18.0.3/32"]),
        };
        assert!(deny_only.admits(ip("203.0.113.1")));
        assert!(!deny_only.admits(ip("198.18.0.3")));
        assert!(Acl::default().admits(ip("198.18.0.3")));
    }

    /// The IPVS rule, step by step: marked at the upper threshold, kept until below the lower.
    #[test]
    fn thresholds_follow_ipvs_hysteresis() {
        let t = Thresholds { upper: 4, lower: 2 };
        let mut was = false;
        let mut seen = Vec::new();
        for total in [0, 3, 4, 5, 3, 2, 1, 2, 3, 4] {
            was = t.overloaded(was, total);
            seen.push(was);
        }
        assert_eq!(
            seen,
            [false, false, true, true, true, true, false, false, false, true]
        );
        // No lower threshold: below three quarters of the upper one (IPVS: total*4 < upper*3).
        let t = Thresholds { upper: 5, lower: 0 };
        assert!(t.overloaded(false, 5));
        assert!(t.overloaded(true, 4), "4*4 = 16 >= 15");
        assert!(!t.overloaded(true, 3), "3*4 = 12 < 15");
        let t = Thresholds { upper: 4, lower: 0 };
        assert!(t.overloaded(true, 3));
        assert!(!t.overloaded(true, 2));
        // Unset: never overloaded, whatever the mark said (removing -x clears it).
        assert!(!Thresholds::default().overloaded(true, u64::MAX));
        // lower == upper: overloaded exactly at or above the threshold.
        let t = Thresholds { upper: 3, lower: 3 };
        assert!(t.overloaded(true, 3) && !t.overloaded(true, 2));
    }

    #[test]
    fn service_rules_from_config() {
        let yaml = crate::config::nat_yaml_unchecked().replacen(
            "{ip: 198.19.0.12, weight: 1}",
            "{ip: 198.19.0.12, weight: 1, upper_threshold: 10}",
            1,
        );
        let cfg = crate::config::load_str(&yaml).unwrap();
        let t = AdmissionTable::build(&cfg.services);
        let web = t.get(0).unwrap();
        assert_eq!(web.thresholds_of(0), Thresholds::default());
        assert_eq!(
            web.thresholds_of(1),
            Thresholds {
                upper: 10,
                lower: 0
            }
        );
        assert_eq!(web.acl, None);
        let echo = t.get(1).unwrap();
        assert!(echo.thresholds.is_empty(), "no threshold: nothing kept");
        assert_eq!(echo.max_connections, 0);
        assert!(t.get(9).is_none());
    }

    proptest! {
        /// The range set answers exactly as the list of prefixes does.
        #[test]
        fn prefix_set_matches_the_list(
            prefixes in prop::collection::vec((any::<u32>(), 0u8..=32), 0..12),
            probes in prop::collection::vec(any::<u32>(), 1..40),
        ) {
            let nets: Vec<Ipv4Net> = prefixes
                .iter()
                .map(|&(a, len)| {
                    let n = Ipv4Net { addr: Ipv4Addr::from(a), len };
                    Ipv4Net { addr: n.network(), len }
                })
                .collect();
            let s = PrefixSet::build(&nets);
            // Probe each prefix's edges too.
            let mut all: Vec<u32> = probes;
            for n in &nets {
                let first = u32::from(n.network());
                all.extend([first, first | !n.mask(), first.wrapping_sub(1), (first | !n.mask()).wrapping_add(1)]);
            }
            for a in all {
                let a = Ipv4Addr::from(a);
                prop_assert_eq!(s.contains(a), nets.iter().any(|n| n.contains(a)), "{}", a);
            }
        }
    }
}
