//! `dataplane ctl ha`: this node's high-availability state (docs/ha.md). The reply has one part
//! per mechanism: `vrrp`, and `sync` (the same report as `ctl sync`) when sync is configured.

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::net::Ipv4Addr;

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct HaView {
    /// None: no `vrrp` section (this node always owns its VIPs).
    pub vrrp: Option<VrrpView>,
    /// None: no `sync` section.
    #[serde(default)]
    pub sync: Option<super::sync::SyncReport>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct VrrpView {
    /// INIT, BACKUP or MASTER.
    pub state: String,
    pub vrid: u8,
    pub priority: u8,
    pub advert_interval_ms: u64,
    pub preempt: bool,
    /// The kernel interface VRRP speaks on, and this node's address there.
    pub interface: String,
    pub address: Ipv4Addr,
    /// The master as this node knows it (its own address when master).
    pub master: Option<Ipv4Addr>,
    /// The last advert heard from another node.
    pub last_advert: Option<LastAdvert>,
    /// State changes since start, and the reason of the last one.
    pub transitions: u64,
    pub last_reason: Option<String>,
    /// Preemption held until this node's connection resync is done (None: no hold applies:
    /// no sync received, or `vrrp.preempt_hold_max: 0s`).
    #[serde(default)]
    pub preempt_hold: Option<PreemptHoldView>,
}

/// The preempt hold (docs/ha.md, "Preemption held until the resync is done").
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct PreemptHoldView {
    /// Preemption is held now.
    pub held: bool,
    /// Why it is held, or why it ended.
    pub reason: String,
    /// `vrrp.preempt_hold_max` in ms.
    pub max_ms: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct LastAdvert {
    pub from: Ipv4Addr,
    pub priority: u8,
    /// How long ago it was heard.
    pub age_ms: u64,
}

/// The text of `ctl ha`.
pub fn render(v: &HaView) -> String {
    let mut s = render_vrrp(v.vrrp.as_ref());
    if let Some(sync) = &v.sync {
        s.push_str("connection sync: ");
        s.push_str(&super::sync::render(sync));
    }
    s
}

fn render_vrrp(r: Option<&VrrpView>) -> String {
    let mut s = String::new();
    let Some(r) = r else {
        s.push_str("VRRP: not configured (this node owns its VIPs)\n");
        return s;
    };
    let _ = writeln!(
        s,
        "VRRP vrid {} on {} ({}): {}",
        r.vrid, r.interface, r.address, r.state
    );
    let _ = writeln!(
        s,
        "  priority {}, advert every {} ms, preempt {}",
        r.priority,
        r.advert_interval_ms,
        if r.preempt { "on" } else { "off" }
    );
    let master = r.master.map_or("unknown".to_string(), |m| m.to_string());
    let _ = writeln!(s, "  master {master}");
    match &r.last_advert {
        Some(l) => {
            let _ = writeln!(
                s,
                "  last advert from {} priority {}, {} ms ago",
                l.from, l.priority, l.age_ms
            );
        }
        None => s.push_str("  last advert: none heard\n"),
    }
    let _ = writeln!(
        s,
        "  transitions {} (last: {})",
        r.transitions,
        r.last_reason.as_deref().unwrap_or("-")
    );
    if let Some(h) = &r.preempt_hold {
        let _ = if h.held {
            writeln!(
                s,
                "  preemption held: {} (at most {} ms)",
                h.reason, h.max_ms
            )
        } else {
            writeln!(s, "  preemption hold ended: {}", h.reason)
        };
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_each_part() {
        assert_eq!(
            render(&HaView::default()),
            "VRRP: not configured (this node owns its VIPs)\n"
        );
        let v = HaView {
            vrrp: Some(VrrpView {
                state: "BACKUP".into(),
                vrid: 51,
                priority: 100,
                advert_interval_ms: 1000,
                preempt: true,
                interface: "dp-ext".into(),
                address: Ipv4Addr::new(198, 18, 0, 1),
                master: Some(Ipv4Addr::new(198, 18, 0, 3)),
                last_advert: Some(LastAdvert {
                    from: Ipv4Addr::new(198, 18, 0, 3),
                    priority: 150,
                    age_ms: 250,
                }),
                transitions: 1,
                last_reason: Some("startup".into()),
                preempt_hold: None,
            }),
            sync: None,
        };
        assert_eq!(
            render(&v),
            "VRRP vrid 51 on dp-ext (198.18.0.1): BACKUP\n  priority 100, advert every 1000 ms, \
             preempt on\n  master 198.18.0.3\n  last advert from 198.18.0.3 priority 150, 250 \
             ms ago\n  transitions 1 (last: startup)\n"
        );
        // The preempt hold, held and then ended.
        let mut held = v.clone();
        held.vrrp.as_mut().unwrap().preempt_hold = Some(PreemptHoldView {
            held: true,
            reason: "connection resync not done".into(),
            max_ms: 60_000,
        });
        let text = render(&held);
        assert_eq!(
            text.lines().last(),
            Some("  preemption held: connection resync not done (at most 60000 ms)")
        );
        held.vrrp.as_mut().unwrap().preempt_hold = Some(PreemptHoldView {
            held: false,
            reason: "resync done: 4 records in 120 ms".into(),
            max_ms: 60_000,
        });
        let text = render(&held);
        assert_eq!(
            text.lines().last(),
            Some("  preemption hold ended: resync done: 4 records in 120 ms")
        );
        let back: HaView = serde_json::from_value(serde_json::to_value(&held).unwrap()).unwrap();
        assert_eq!(back, held);
    }

    /// With sync configured, its report follows VRRP's part (the same text as `ctl sync`).
    #[test]
    fn carries_the_sync_part() {
        let sync = super::super::sync::SyncReport {
            enabled: true,
            ..Default::default()
        };
        let v = HaView {
            vrrp: None,
            sync: Some(sync.clone()),
        };
        let text = render(&v);
        assert_eq!(
            text,
            format!(
                "VRRP: not configured (this node owns its VIPs)\nconnection sync: {}",
                super::super::sync::render(&sync)
            )
        );
        assert!(text.contains("connection sync: role "), "{text}");
        let back: HaView = serde_json::from_value(serde_json::to_value(&v).unwrap()).unwrap();
        assert_eq!(back, v);
    }
}
