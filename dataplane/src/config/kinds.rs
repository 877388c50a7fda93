//! The names an operator writes for a forwarding mode and a scheduler, defined once: the config
//! parses them, `lb/` acts on them, and `ctl` and the metrics print them through these enums
//! (serde, `FromStr` and `Display` all use the same lowercase names, as `ipvsadm` spells them).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How packets reach a real server (LVS's VS-NAT, VS-DR, VS-TUN, and the local node).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ForwardMode {
    #[default]
    Nat,
    Dr,
    Tun,
    /// The real is the appliance itself (ipvsadm's `Local`): NAT to the appliance's own
    /// address, delivered to the kernel through the exception path; the kernel's replies come
    /// back the same way and leave as NAT replies. A real whose address is one of the ports'
    /// is local; `forward: local` may say so on such a real and is refused anywhere else.
    Local,
}

impl ForwardMode {
    pub const ALL: [ForwardMode; 4] = [
        ForwardMode::Nat,
        ForwardMode::Dr,
        ForwardMode::Tun,
        ForwardMode::Local,
    ];

    /// The configuration name (`"nat"`, `"dr"`, `"tun"`; `"local"` as ctl and metrics show it).
    pub fn as_str(self) -> &'static str {
        match self {
            ForwardMode::Nat => "nat",
            ForwardMode::Dr => "dr",
            ForwardMode::Tun => "tun",
            ForwardMode::Local => "local",
        }
    }

    /// Are the destination address and port rewritten (so replies come back through us and
    /// are rewritten back)? NAT and the local node.
    #[inline]
    pub fn is_nat(self) -> bool {
        matches!(self, ForwardMode::Nat | ForwardMode::Local)
    }
}

impl fmt::Display for ForwardMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A forwarding mode name that is not one of [`ForwardMode::ALL`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown forwarding mode {0:?}: expected one of nat, dr, tun, local")]
pub struct UnknownForwardMode(pub String);

impl FromStr for ForwardMode {
    type Err = UnknownForwardMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ForwardMode::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownForwardMode(s.to_string()))
    }
}

/// The scheduling algorithms, named as `ipvsadm -s` names them (`lb::sched` implements them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum SchedKind {
    /// Round robin.
    Rr,
    /// Weighted round robin (interleaved, gcd based).
    Wrr,
    /// Least connections.
    Lc,
    /// Weighted least connections (LVS's default).
    #[default]
    Wlc,
    /// Shortest expected delay.
    Sed,
    /// Never queue.
    Nq,
    /// Source hashing.
    Sh,
    /// Destination hashing.
    Dh,
    /// Maglev hashing.
    Mh,
}

impl SchedKind {
    /// Every kind, in the order the error message lists them.
    pub const ALL: [SchedKind; 9] = [
        SchedKind::Rr,
        SchedKind::Wrr,
        SchedKind::Lc,
        SchedKind::Wlc,
        SchedKind::Sed,
        SchedKind::Nq,
        SchedKind::Sh,
        SchedKind::Dh,
        SchedKind::Mh,
    ];

    /// The configuration name (`"wlc"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            SchedKind::Rr => "rr",
            SchedKind::Wrr => "wrr",
            SchedKind::Lc => "lc",
            SchedKind::Wlc => "wlc",
            SchedKind::Sed => "sed",
            SchedKind::Nq => "nq",
            SchedKind::Sh => "sh",
            SchedKind::Dh => "dh",
            SchedKind::Mh => "mh",
        }
    }
}

impl fmt::Display for SchedKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scheduler name that is not one of [`SchedKind::ALL`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown scheduler {0:?}: expected one of rr, wrr, lc, wlc, sed, nq, sh, dh, mh")]
pub struct UnknownScheduler(pub String);

impl FromStr for SchedKind {
    type Err = UnknownScheduler;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SchedKind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownScheduler(s.to_string()))
    }
}

impl TryFrom<String> for SchedKind {
    type Error = UnknownScheduler;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_every_form() {
        for k in SchedKind::ALL {
            assert_eq!(k.to_string().parse::<SchedKind>(), Ok(k));
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{k}\""));
            assert_eq!(serde_json::from_str::<SchedKind>(&json).unwrap(), k);
        }
        for m in ForwardMode::ALL {
            assert_eq!(m.to_string().parse::<ForwardMode>(), Ok(m));
            let json = serde_json::to_string(&m).unwrap();
            assert_eq!(json, format!("\"{m}\""));
            assert_eq!(serde_json::from_str::<ForwardMode>(&json).unwrap(), m);
        }
        assert_eq!(SchedKind::default(), SchedKind::Wlc);
        assert_eq!(ForwardMode::default(), ForwardMode::Nat);
    }

    #[test]
    fn unknown_names_are_refused_with_the_choices() {
        assert_eq!(
            "fastest".parse::<SchedKind>().unwrap_err().to_string(),
            "unknown scheduler \"fastest\": expected one of rr, wrr, lc, wlc, sed, nq, sh, dh, mh"
        );
        assert_eq!(
            "WLC".parse::<SchedKind>(),
            Err(UnknownScheduler("WLC".into()))
        );
        assert_eq!(
            "masq".parse::<ForwardMode>().unwrap_err().to_string(),
            "unknown forwarding mode \"masq\": expected one of nat, dr, tun, local"
        );
    }
}
