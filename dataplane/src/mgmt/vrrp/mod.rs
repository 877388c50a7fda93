//! VRRPv3 (RFC 5798) in the management thread (docs/ha.md): the state machine (`state.rs`)
//! driven by the management tick's clock, adverts over a raw socket on the VRRP port's
//! exception interface (`io.rs`), and what a transition does: VIP ownership published to the
//! workers, gratuitous ARPs on becoming master (the caller sends them), a log line with the
//! reason, and the notify command with the new state in its environment.

pub mod hold;
pub mod io;
pub mod state;
pub mod status;

use super::MgmtCounters;
use crate::config::Config;
use crate::ctl::ha::{LastAdvert, VrrpView};
use crate::lb::route::PortIdx;
use crate::wire::vrrp::VrrpRepr;
use crate::wire::MacAddr;
use hold::{HoldEvent, PreemptHold, Released, ResyncProgress};
use io::{Link, Refused};
use state::{Action, Machine, Params, Reason, State};
use status::HaStatus;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::Instant;

/// Retry opening the socket this often while the interface is not ready.
const OPEN_RETRY_MS: u64 = 1000;

/// What the management thread must do after a VRRP round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Publish VIP ownership (true: master).
    Own(bool),
    /// Announce the VIPs and floating addresses (gratuitous ARP).
    Announce,
}

pub struct Vrrp {
    machine: Machine,
    /// Preemption held while this node's connection resync is not done (hold.rs).
    hold: PreemptHold,
    vrid: u8,
    iface: String,
    pub port: PortIdx,
    link: Option<Link>,
    next_open: u64,
    /// The addresses the adverts carry: the VIPs, then the floating addresses.
    addresses: Vec<Ipv4Addr>,
    notify: Option<PathBuf>,
    children: Vec<Child>,
    clock: Instant,
    started: bool,
    pub status: Arc<HaStatus>,
}

impl Vrrp {
    /// The virtual router of `cfg` (None without a `vrrp` section).
    pub fn from_config(cfg: &Config, status: Arc<HaStatus>) -> Option<Vrrp> {
        let v = cfg.vrrp.as_ref()?;
        let i = v.port_index(cfg)?;
        let port = &cfg.ports[i];
        let iface = super::exception::iface_name(port)?;
        let addr = port.ip?.addr;
        // VRRPv3 here advertises IPv4 (RFC 5798's IPv4 form); IPv6 VIPs are not in its list.
        let mut addresses: Vec<Ipv4Addr> = cfg
            .services
            .iter()
            .filter_map(|s| match s.vip {
                std::net::IpAddr::V4(a) => Some(a),
                std::net::IpAddr::V6(_) => None,
            })
            .collect();
        addresses.sort();
        addresses.dedup();
        addresses.extend(v.floating.iter().map(|f| f.ip));
        addresses.truncate(255);
        let v = Vrrp {
            machine: Machine::new(Params {
                priority: v.priority,
                interval_cs: v.interval_cs(),
                preempt: v.preempt,
                preempt_delay_ms: v.preempt_delay.millis(),
                addr,
            }),
            // Without preemption there is nothing to hold.
            hold: PreemptHold::new(if v.preempt {
                v.preempt_hold_max.millis()
            } else {
                0
            }),
            vrid: v.vrid,
            iface,
            port: i as PortIdx,
            link: None,
            next_open: 0,
            addresses,
            notify: v.notify.clone(),
            children: Vec::new(),
            clock: Instant::now(),
            started: false,
            status,
        };
        // `ctl ha` shows INIT until the socket is open and the machine starts.
        v.publish();
        Some(v)
    }

    fn now(&self) -> u64 {
        self.clock.elapsed().as_millis() as u64
    }

    /// Follows this node's connection resync: preemption is held until it is done (or
    /// `vrrp.preempt_hold_max` passed). Called every round before `poll`.
    pub fn follow_resync(&mut self, progress: ResyncProgress) {
        let Some(event) = self.hold.update(progress) else {
            return;
        };
        self.machine.set_preempt_hold(self.hold.held());
        match event {
            HoldEvent::Started => tracing::info!(
                vrid = self.vrid,
                max_ms = self.hold.max_ms(),
                "VRRP preemption held until the connection resync is done"
            ),
            HoldEvent::Ended(Released::ResyncDone { records, took_ms }) => tracing::info!(
                vrid = self.vrid,
                records,
                took_ms,
                "VRRP preemption hold ended: resync done"
            ),
            HoldEvent::Ended(Released::Bound { waited_ms, records }) => tracing::warn!(
                vrid = self.vrid,
                waited_ms,
                records,
                "VRRP preemption hold ended: no resync finished within vrrp.preempt_hold_max; \
                 preemption may now take the VIPs without the full connection table"
            ),
        }
        self.publish();
    }

    /// One round: opens the socket if needed, reads every advert waiting, runs the timers.
    pub fn poll(&mut self, c: &mut MgmtCounters) -> Vec<Effect> {
        let now = self.now();
        self.reap();
        let mut effects = Vec::new();
        if self.link.is_none() {
            if now < self.next_open {
                return effects;
            }
            match Link::open(&self.iface, self.machine.params().addr) {
                Ok(l) => {
                    tracing::info!(iface = %self.iface, vrid = self.vrid, "VRRP socket open");
                    self.link = Some(l);
                }
                Err(e) => {
                    if self.next_open == 0 {
                        tracing::warn!(iface = %self.iface, "VRRP socket not open yet: {e}");
                    }
                    self.next_open = now + OPEN_RETRY_MS;
                    return effects;
                }
            }
        }
        if !self.started {
            self.started = true;
            let a = self.machine.start(now);
            self.apply(a, c, &mut effects);
        }
        let mut changed = false;
        while let Some(d) = self.link.as_mut().and_then(|l| l.recv()) {
            match io::judge(d, self.vrid) {
                // Our own, looped back by the port: not an advert from a peer.
                Ok(h) if h.src == self.machine.params().addr => {}
                Ok(h) => {
                    c.vrrp_adverts_received += 1;
                    changed = true;
                    let a = self.machine.receive(now, h);
                    self.apply(a, c, &mut effects);
                }
                Err(r) => count_refusal(c, r),
            }
        }
        let a = self.machine.tick(now);
        changed |= !a.is_empty();
        self.apply(a, c, &mut effects);
        if changed {
            self.publish();
        }
        effects
    }

    /// Stopping: a master resigns (priority 0) so that the backup takes over at once.
    pub fn shutdown(&mut self, c: &mut MgmtCounters) -> Vec<Effect> {
        let mut effects = Vec::new();
        let a = self.machine.shutdown();
        self.apply(a, c, &mut effects);
        self.publish();
        effects
    }

    fn apply(&mut self, actions: Vec<Action>, c: &mut MgmtCounters, effects: &mut Vec<Effect>) {
        for a in actions {
            match a {
                Action::Send { priority } => self.send(priority, c),
                Action::Transition { from, to, reason } => {
                    c.vrrp_transitions += 1;
                    tracing::warn!(
                        vrid = self.vrid,
                        from = from.name(),
                        to = to.name(),
                        reason = %reason,
                        "VRRP state change"
                    );
                    effects.push(Effect::Own(to == State::Master));
                    if to == State::Master {
                        effects.push(Effect::Announce);
                    }
                    self.notify(from, to, reason);
                }
                Action::Reannounce { peer, priority } => {
                    tracing::warn!(
                        vrid = self.vrid,
                        %peer,
                        priority,
                        "VRRP another master heard that yields to this one (split brain \
                         healing): announcing the addresses again"
                    );
                    effects.push(Effect::Announce);
                }
            }
        }
    }

    fn send(&mut self, priority: u8, c: &mut MgmtCounters) {
        let Some(link) = &self.link else {
            return;
        };
        let r = VrrpRepr {
            vrid: self.vrid,
            priority,
            max_advert_interval_cs: self.machine.params().interval_cs,
            addresses: self.addresses.clone(),
        };
        match link.send(&r) {
            Ok(()) => c.vrrp_adverts_sent += 1,
            Err(e) => {
                c.vrrp_send_errors += 1;
                tracing::debug!("VRRP advert not sent: {e}");
            }
        }
    }

    /// Runs the notify command (not waited for: reaped on later rounds).
    fn notify(&mut self, from: State, to: State, reason: Reason) {
        let Some(cmd) = &self.notify else {
            return;
        };
        let spawned = Command::new(cmd)
            .env("DATAPLANE_VRRP_STATE", to.name())
            .env("DATAPLANE_VRRP_PREVIOUS", from.name())
            .env("DATAPLANE_VRRP_VRID", self.vrid.to_string())
            .env("DATAPLANE_VRRP_REASON", reason.to_string())
            .arg(to.name())
            .spawn();
        match spawned {
            Ok(child) => self.children.push(child),
            Err(e) => tracing::error!(command = %cmd.display(), "vrrp.notify: cannot run: {e}"),
        }
    }

    fn reap(&mut self) {
        self.children.retain_mut(|ch| match ch.try_wait() {
            Ok(Some(st)) => {
                if !st.success() {
                    tracing::warn!("vrrp.notify exited with {st}");
                }
                false
            }
            Ok(None) => true,
            Err(_) => false,
        });
    }

    fn publish(&self) {
        let m = &self.machine;
        let p = m.params();
        let heard_at = m
            .last_heard
            .map(|(t, _, _)| self.clock + std::time::Duration::from_millis(t));
        let view = VrrpView {
            state: m.state().name().to_string(),
            vrid: self.vrid,
            priority: p.priority,
            advert_interval_ms: u64::from(p.interval_cs) * 10,
            preempt: p.preempt,
            interface: self.iface.clone(),
            address: p.addr,
            master: m.master,
            last_advert: m.last_heard.map(|(_, from, priority)| LastAdvert {
                from,
                priority,
                age_ms: 0,
            }),
            transitions: m.transitions,
            last_reason: m.last_reason.map(|r| r.to_string()),
            preempt_hold: self.hold.view(),
        };
        self.status.set(view, heard_at);
    }
}

/// Gratuitous ARPs on becoming master: the VIPs' (`vips`, as at start) and each floating
/// address on its port.
pub fn announce_plan(
    snap: &crate::lb::snapshot::Snapshot,
    mut vips: Vec<(PortIdx, MacAddr, Ipv4Addr)>,
) -> Vec<(PortIdx, MacAddr, Ipv4Addr)> {
    for &(ip, port) in &snap.ha.floating {
        if let Some(p) = snap.ports.get(usize::from(port)) {
            vips.push((port, MacAddr(p.mac), ip));
        }
    }
    vips
}

fn count_refusal(c: &mut MgmtCounters, r: Refused) {
    match r {
        Refused::Malformed => c.vrrp_drop_malformed += 1,
        Refused::Ttl => c.vrrp_drop_ttl += 1,
        Refused::Checksum => c.vrrp_drop_checksum += 1,
        Refused::Version => c.vrrp_drop_version += 1,
        Refused::Vrid => c.vrrp_drop_vrid += 1,
    }
}
