//! The control plane's state: the running config, the services as the workers get them (with
//! the health checks' verdicts applied), the neighbour table, the snapshot generation, and
//! building and publishing snapshots. Everything the workers read comes from here, and only the
//! management thread changes it:
//!
//! - a reload (SIGHUP, `ctl reload`, `control.watch_config`: [`ControlState::reload`] reads the
//!   file once) or a weight change hands it a new config ([`ControlState::apply_config`]):
//!   refused whole, with the key and the reason, when a
//!   restart-only key differs or the snapshot cannot be built; otherwise published at once;
//! - the health checks hand it their verdicts ([`ControlState::set_health`]) and ARP hands it
//!   neighbours ([`ControlState::neighbour_event`]); both are published together by the next
//!   [`ControlState::publish_changes`] (once per management tick).
//!
//! It does no I/O and needs no DPDK, so it is tested on its own (tests below).

use super::health::RealKey;
use super::nd::Nd;
use super::neighbours::Neighbours;
use crate::config::{Config, Real};
use crate::lb::neigh::NeighEvent;
use crate::lb::published::Published;
use crate::lb::route::PortIdx;
use crate::lb::service::ServiceSpec;
use crate::lb::snapshot::{service_specs, PortInfo, Snapshot};
use crate::wire::MacAddr;
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub struct ControlState {
    /// The running config: the last one applied.
    cfg: Config,
    /// The running config's services as the workers get them (health applied).
    specs: Vec<ServiceSpec>,
    /// Reals that health checks say are down (no new connections).
    down: HashSet<RealKey>,
    /// Health verdicts changed since the last publication.
    health_changed: bool,
    neighbours: Neighbours,
    /// IPv6 neighbours (neighbour discovery), published as `Snapshot::v6().neigh`.
    nd: Nd,
    /// The generation of the last published snapshot.
    generation: u64,
    published: Arc<Published>,
    /// This node owns the VIPs (VRRP master, or no VRRP): copied into every snapshot.
    ha_active: bool,
}

/// What an applied config published.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Applied {
    pub generation: u64,
    pub services: usize,
}

impl ControlState {
    /// The state of a starting appliance: `cfg` on `ports` for `n_workers` workers, every real
    /// up, no neighbour learned yet; its first snapshot (generation 1) is published.
    pub fn new(
        cfg: Config,
        ports: Vec<PortInfo>,
        n_workers: usize,
    ) -> Result<ControlState, String> {
        let down = HashSet::new();
        let specs = service_specs(&cfg, &available(&down));
        let neighbours = Neighbours::new(
            &cfg.neighbors,
            cfg.routes_v4().map(|(_, via)| via).collect(),
        );
        let nd = Nd::new(
            &cfg.neighbors,
            cfg.routes_v6().map(|(_, via)| via).collect(),
        );
        let mut first =
            Snapshot::build(1, &cfg, ports, neighbours.table(), &specs, None, n_workers)?;
        // With VRRP a node starts as a non-owner (RFC 5798 Initialize) until it becomes master.
        let ha_active = cfg.vrrp.is_none();
        first.ha.active = ha_active;
        Ok(ControlState {
            ha_active,
            cfg,
            specs,
            down,
            health_changed: false,
            neighbours,
            nd,
            generation: 1,
            published: Arc::new(Published::new(first)),
        })
    }

    /// The cell the workers (and the control and metrics threads) read snapshots from.
    pub fn published(&self) -> Arc<Published> {
        self.published.clone()
    }

    /// The snapshot published last.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.published.load_full()
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Applies a new config and publishes its snapshot. Refused, with nothing changed, when a
    /// restart-only key differs (the message names its path) or its snapshot cannot be built.
    /// Health verdicts of reals that stay are kept; connections of untouched services are
    /// untouched (service and real ids stay stable) and removed reals drain.
    pub fn apply_config(&mut self, new: Config) -> Result<Applied, String> {
        if let Some(e) = crate::config::restart_needed(&self.cfg, &new) {
            return Err(e.to_string());
        }
        let specs = service_specs(&new, &available(&self.down));
        let prev = self.snapshot();
        let next = Snapshot::build(
            self.generation + 1,
            &new,
            prev.ports.clone(),
            self.neighbours.table_with_statics(&new.neighbors),
            &specs,
            Some(&prev),
            prev.n_workers,
        )?;
        let services = next.services.services().len();
        self.neighbours.set_statics(&new.neighbors);
        self.nd.set_statics(&new.neighbors);
        // The new statics are in this snapshot already (the IPv6 ones from `publish`).
        let _ = self.neighbours.take_dirty();
        let _ = self.nd.take_dirty();
        self.cfg = new;
        self.specs = specs;
        self.health_changed = false;
        self.publish(next);
        Ok(Applied {
            generation: self.generation,
            services,
        })
    }

    /// Reads the config file at `path` once and applies it (see `apply_config`). A file that
    /// cannot be read, parsed or validated is refused with the key, line and reason.
    pub fn reload(&mut self, path: &Path) -> Result<Applied, String> {
        let new = crate::config::load_file(path).map_err(|e| format!("{}: {e}", path.display()))?;
        self.apply_config(new)
    }

    /// Sets the weight of `service`'s real at `ip` (and `port`, needed when the service has
    /// several reals at `ip`) in the running config and applies it; returns the old weight. The
    /// config file is not changed: a later reload sets the file's weight again.
    pub fn set_weight(
        &mut self,
        service: &str,
        ip: IpAddr,
        port: Option<u16>,
        weight: u32,
    ) -> Result<u32, String> {
        if weight > 65535 {
            return Err("weight: must be between 0 and 65535".into());
        }
        let shown = match port {
            Some(p) => crate::config::addr_port(ip, p),
            None => ip.to_string(),
        };
        let mut cfg = self.cfg.clone();
        let svc = cfg
            .services
            .iter_mut()
            .find(|s| s.name == service)
            .ok_or_else(|| format!("no service named `{service}`"))?;
        let sport = svc.port;
        let mut hits: Vec<&mut Real> = svc
            .reals
            .iter_mut()
            .filter(|r| r.ip == ip && port.is_none_or(|p| r.port.unwrap_or(sport) == p))
            .collect();
        let real = match hits.len() {
            0 => return Err(format!("service `{service}` has no real {shown}")),
            1 => hits.remove(0),
            _ => {
                return Err(format!(
                    "{shown} is several reals of `{service}`: add the port"
                ))
            }
        };
        let old = std::mem::replace(&mut real.weight, weight);
        self.apply_config(cfg)?;
        Ok(old)
    }

    /// Takes the health checks' verdict: the reals in `down` take no new connections. A change
    /// is published by the next `publish_changes`.
    pub fn set_health(&mut self, down: HashSet<RealKey>) {
        if down == self.down {
            return;
        }
        self.specs = service_specs(&self.cfg, &available(&down));
        self.down = down;
        self.health_changed = true;
    }

    /// A neighbour event from a worker (an ARP sender seen, a next hop missing).
    pub fn neighbour_event(&mut self, e: NeighEvent) {
        self.neighbours.event(e);
    }

    /// An IPv6 neighbour event from a worker (an ND sender seen, a next hop missing).
    pub fn neighbour_event6(&mut self, e: NeighEvent<std::net::Ipv6Addr>) {
        self.nd.event(e);
    }

    /// Neighbor Solicitations due at `now`: (port, our MAC, our IPv6 address there, target).
    pub fn nd_solicits_due(
        &mut self,
        now: Duration,
    ) -> Vec<(PortIdx, MacAddr, std::net::Ipv6Addr, std::net::Ipv6Addr)> {
        let snap = self.snapshot();
        self.nd.due_solicits(&snap, now)
    }

    /// ARP requests due at `now` (the management thread's clock): (port, our MAC, our IP there,
    /// target).
    pub fn arp_requests_due(
        &mut self,
        now: Duration,
    ) -> Vec<(PortIdx, MacAddr, Ipv4Addr, Ipv4Addr)> {
        let snap = self.snapshot();
        self.neighbours.due_requests(&snap, now)
    }

    /// Gratuitous ARPs announcing every VIP: (port, MAC, VIP).
    pub fn garp_plan(&self) -> Vec<(PortIdx, MacAddr, Ipv4Addr)> {
        self.neighbours.garp_plan(&self.snapshot())
    }

    /// Publishes a snapshot when health verdicts or neighbours changed since the last one;
    /// returns whether it did. A build that fails (it cannot with inputs that built before:
    /// routes and services are the running ones) is reported once, not retried every tick; the
    /// next change tries again with everything current.
    pub fn publish_changes(&mut self) -> Result<bool, String> {
        let neighbours_changed = self.neighbours.take_dirty() | self.nd.take_dirty();
        if !neighbours_changed && !self.health_changed {
            return Ok(false);
        }
        let prev = self.snapshot();
        let next = Snapshot::build(
            self.generation + 1,
            &self.cfg,
            prev.ports.clone(),
            self.neighbours.table(),
            &self.specs,
            Some(&prev),
            prev.n_workers,
        );
        self.health_changed = false;
        self.publish(next?);
        Ok(true)
    }

    /// Publishes a snapshot whose SYN cookie secret is `key`, the current one becoming the
    /// previous (cookies made with it stay valid until the next rotation). Everything else is
    /// the running state.
    pub fn rotate_cookie_secret(&mut self, key: crate::lb::syncookie::Key) -> Result<(), String> {
        let prev = self.snapshot();
        let mut next = self.rebuild(&prev)?;
        next.cookie_secrets = prev.cookie_secrets.rotated(key);
        self.health_changed = false;
        let _ = self.neighbours.take_dirty();
        let _ = self.nd.take_dirty();
        self.publish(next);
        Ok(())
    }

    /// Sets whether this node owns the VIPs (VRRP master) and publishes it at once; returns
    /// whether it changed.
    pub fn set_ha_active(&mut self, active: bool) -> Result<bool, String> {
        if active == self.ha_active {
            return Ok(false);
        }
        self.ha_active = active;
        let prev = self.snapshot();
        let next = self.rebuild(&prev)?;
        self.publish(next);
        Ok(true)
    }

    /// The next snapshot of the running state (config, services with health, neighbours).
    fn rebuild(&self, prev: &Snapshot) -> Result<Snapshot, String> {
        Snapshot::build(
            self.generation + 1,
            &self.cfg,
            prev.ports.clone(),
            self.neighbours.table(),
            &self.specs,
            Some(prev),
            prev.n_workers,
        )
    }

    fn publish(&mut self, mut next: Snapshot) {
        next.ha.active = self.ha_active;
        // The IPv4 specs carry health already; the IPv6 part takes it here, on every snapshot.
        next.v6.set_available(&available(&self.down));
        next.v6.neigh = self.nd.table();
        self.generation = next.generation;
        self.published.store(Arc::new(next));
    }
}

/// The `available` rule of `service_specs` for a set of down reals.
fn available(down: &HashSet<RealKey>) -> impl Fn(&str, IpAddr, u16) -> bool + '_ {
    move |service, ip, port| {
        down.is_empty()
            || !down.contains(&RealKey {
                service: service.to_string(),
                ip,
                port,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAT: &str = include_str!("../../../configs/nat.yaml");

    fn ports() -> Vec<PortInfo> {
        [("ext", "198.18.0.1"), ("int", "198.19.0.1")]
            .iter()
            .enumerate()
            .map(|(i, (name, ip))| PortInfo {
                name: name.to_string(),
                dpdk_id: i as u16,
                mac: [2, 0, 0, 0, 1, i as u8],
                ip: Some((ip.parse().unwrap(), 24)),
                mtu: 1500,
                exception: false,
            })
            .collect()
    }

    fn state() -> ControlState {
        ControlState::new(crate::config::load_str(NAT).unwrap(), ports(), 2).unwrap()
    }

    fn config(text: &str) -> Config {
        crate::config::load_str(text).unwrap()
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn ipa(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// (address, weight, available) of each real of `service` in the published snapshot.
    fn reals(s: &ControlState, service: &str) -> Vec<(Ipv4Addr, u32, bool)> {
        s.snapshot()
            .services
            .services()
            .iter()
            .find(|x| x.name == service)
            .unwrap()
            .reals
            .iter()
            .map(|r| (r.addr, r.weight, r.available))
            .collect()
    }

    fn web_down(real: &str) -> RealKey {
        RealKey {
            service: "web".into(),
            ip: IpAddr::V4(ip(real)),
            port: 80,
        }
    }

    #[test]
    fn the_cookie_secret_rotates_and_survives_reloads() {
        let mut s = state();
        let first = s.snapshot().cookie_secrets;
        assert_eq!(first.current, first.previous);
        s.rotate_cookie_secret([7, 8]).unwrap();
        let snap = s.snapshot();
        assert_eq!(snap.generation, 2);
        assert_eq!(snap.cookie_secrets.current, [7, 8]);
        assert_eq!(snap.cookie_secrets.previous, first.current);
        // A neighbour or config change keeps the secrets.
        let cfg = s.config().clone();
        s.apply_config(cfg).unwrap();
        assert_eq!(s.snapshot().cookie_secrets, snap.cookie_secrets);
    }

    #[test]
    fn starts_at_generation_one() {
        let s = state();
        assert_eq!(s.generation(), 1);
        let snap = s.snapshot();
        assert_eq!(snap.generation, 1);
        assert_eq!(s.published().generation(), 1);
        assert_eq!(snap.n_workers, 2);
        assert_eq!(snap.services.services().len(), 3);
        assert_eq!(snap.neigh.len(), 0);
    }

    #[test]
    fn a_config_is_applied_and_published() {
        let mut s = state();
        let services_gen = s.snapshot().services_generation;
        let applied = s
            .apply_config(config(&NAT.replacen("weight: 1}", "weight: 4}", 1)))
            .unwrap();
        assert_eq!(
            applied,
            Applied {
                generation: 2,
                services: 3
            }
        );
        assert_eq!(s.published().generation(), 2);
        assert_eq!(s.snapshot().services_generation, services_gen + 1);
        assert_eq!(
            reals(&s, "web"),
            [(ip("198.19.0.11"), 4, true), (ip("198.19.0.12"), 1, true)]
        );
        assert_eq!(s.config().services[0].reals[0].weight, 4);
        assert_eq!(s.publish_changes(), Ok(false), "nothing else pending");
    }

    /// (service id, [(real address, real id)]) of every service in the published snapshot.
    fn ids(s: &ControlState) -> Vec<(String, Vec<(Ipv4Addr, u32)>)> {
        s.snapshot()
            .services
            .services()
            .iter()
            .map(|x| {
                let reals = x.reals.iter().map(|r| (r.addr, r.id)).collect();
                (format!("{}#{:?}", x.name, x.id), reals)
            })
            .collect()
    }

    #[test]
    fn removing_a_real_keeps_every_other_identity() {
        let mut s = state();
        let before = ids(&s);
        // web loses real2; echo and dns are untouched.
        let text = NAT.replacen("      - {ip: 198.19.0.12, weight: 1}\n", "", 1);
        assert_ne!(text, NAT, "nat.yaml's web has real2");
        s.apply_config(config(&text)).unwrap();
        let after = ids(&s);
        assert_eq!(after[0].0, before[0].0);
        assert_eq!(after[0].1, before[0].1[..1], "web keeps real1's id");
        assert_eq!(after[1..], before[1..], "untouched services keep every id");
        // Putting it back gives it its old id (same service, address and port): its draining
        // connections belong to it again.
        s.apply_config(config(NAT)).unwrap();
        assert_eq!(ids(&s), before);
    }

    #[test]
    fn a_reload_that_needs_a_restart_changes_nothing() {
        let mut s = state();
        let before = s.snapshot();
        let new = NAT.replacen("weight: 1}", "weight: 4}", 1).replacen(
            "cores: [1]",
            "cores: [1]\n  burst: 16",
            1,
        );
        assert_eq!(
            s.apply_config(config(&new)),
            Err("workers.burst: changing it needs a restart".into())
        );
        assert_eq!(s.generation(), 1);
        assert!(Arc::ptr_eq(&before, &s.snapshot()), "nothing published");
        assert_eq!(s.config(), &config(NAT), "the running config stays");
        assert_eq!(s.publish_changes(), Ok(false));
    }

    #[test]
    fn health_down_and_up_are_published_and_survive_a_reload() {
        let mut s = state();
        let services_gen = s.snapshot().services_generation;
        s.set_health(HashSet::from([web_down("198.19.0.12")]));
        assert_eq!(s.publish_changes(), Ok(true));
        assert_eq!(s.generation(), 2);
        assert_eq!(
            reals(&s, "web"),
            [(ip("198.19.0.11"), 1, true), (ip("198.19.0.12"), 1, false)]
        );
        assert_eq!(
            reals(&s, "echo"),
            [(ip("198.19.0.11"), 1, true), (ip("198.19.0.12"), 1, true)],
            "only the web service's real is down"
        );
        assert_eq!(s.snapshot().services_generation, services_gen + 1);
        // The same verdict again publishes nothing.
        s.set_health(HashSet::from([web_down("198.19.0.12")]));
        assert_eq!(s.publish_changes(), Ok(false));
        assert_eq!(s.generation(), 2);
        // A reload that keeps the real keeps it down.
        s.apply_config(config(&NAT.replacen("weight: 1}", "weight: 2}", 1)))
            .unwrap();
        assert_eq!(s.generation(), 3);
        assert_eq!(
            reals(&s, "web"),
            [(ip("198.19.0.11"), 2, true), (ip("198.19.0.12"), 1, false)]
        );
        // Back up.
        s.set_health(HashSet::new());
        assert_eq!(s.publish_changes(), Ok(true));
        assert_eq!(s.generation(), 4);
        assert_eq!(
            reals(&s, "web"),
            [(ip("198.19.0.11"), 2, true), (ip("198.19.0.12"), 1, true)]
        );
    }

    #[test]
    fn a_learned_neighbour_makes_a_new_generation_with_the_same_services() {
        let mut s = state();
        let services_gen = s.snapshot().services_generation;
        let mac = [2, 0, 0, 0, 2, 0x11];
        s.neighbour_event(NeighEvent::Learned {
            port: 1,
            ip: ip("198.19.0.11"),
            mac,
        });
        assert_eq!(s.publish_changes(), Ok(true));
        let snap = s.snapshot();
        assert_eq!(snap.generation, 2);
        assert_eq!(snap.neigh.get(ip("198.19.0.11")), Some(mac));
        assert_eq!(
            snap.services_generation, services_gen,
            "workers keep their schedulers"
        );
        // The same answer again changes nothing.
        s.neighbour_event(NeighEvent::Learned {
            port: 1,
            ip: ip("198.19.0.11"),
            mac,
        });
        assert_eq!(s.publish_changes(), Ok(false));
        // A reload keeps what was learned and adds its static entries.
        let statics =
            format!("{NAT}\nneighbors: [{{ip: 198.19.0.12, mac: \"02:00:00:00:02:12\"}}]\n");
        s.apply_config(config(&statics)).unwrap();
        let snap = s.snapshot();
        assert_eq!(snap.generation, 3);
        assert_eq!(snap.neigh.get(ip("198.19.0.11")), Some(mac));
        assert_eq!(
            snap.neigh.get(ip("198.19.0.12")),
            Some([2, 0, 0, 0, 2, 0x12])
        );
        assert_eq!(s.publish_changes(), Ok(false), "already published");
    }

    #[test]
    fn reload_reads_the_file_and_reports_the_refusal() {
        let mut s = state();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lb.yaml");
        std::fs::write(&path, NAT.replacen("weight: 1}", "weight: 3}", 1)).unwrap();
        assert_eq!(
            s.reload(&path),
            Ok(Applied {
                generation: 2,
                services: 3
            })
        );
        assert_eq!(reals(&s, "web")[0], (ip("198.19.0.11"), 3, true));
        std::fs::write(&path, NAT.replace("scheduler: wrr", "scheduler: fastest")).unwrap();
        let e = s.reload(&path).unwrap_err();
        let prefix = format!("{}: services[0].scheduler", path.display());
        assert!(e.starts_with(&prefix), "{e}");
        assert!(e.contains("fastest"), "{e}");
        std::fs::remove_file(&path).unwrap();
        let e = s.reload(&path).unwrap_err();
        assert!(e.contains("cannot read"), "{e}");
        assert_eq!(s.generation(), 2, "refusals publish nothing");
        assert_eq!(reals(&s, "web")[0], (ip("198.19.0.11"), 3, true));
    }

    #[test]
    fn weights_change_the_running_config_only() {
        let mut s = state();
        assert_eq!(s.set_weight("web", ipa("198.19.0.11"), None, 0), Ok(1));
        assert_eq!(s.generation(), 2);
        assert_eq!(
            reals(&s, "web"),
            [(ip("198.19.0.11"), 0, true), (ip("198.19.0.12"), 1, true)]
        );
        assert_eq!(s.set_weight("web", ipa("198.19.0.11"), Some(80), 3), Ok(0));
        assert_eq!(
            s.set_weight("nope", ipa("198.19.0.11"), None, 1),
            Err("no service named `nope`".into())
        );
        assert_eq!(
            s.set_weight("web", ipa("198.19.0.99"), Some(80), 1),
            Err("service `web` has no real 198.19.0.99:80".into())
        );
        assert_eq!(
            s.set_weight("web", ipa("198.19.0.11"), None, 70000),
            Err("weight: must be between 0 and 65535".into())
        );
        assert_eq!(s.generation(), 3, "refused changes publish nothing");
    }

    #[test]
    fn arp_plans_come_from_the_published_snapshot() {
        let mut s = state();
        let mut asked: Vec<Ipv4Addr> = s
            .arp_requests_due(Duration::ZERO)
            .iter()
            .map(|r| r.3)
            .collect();
        asked.sort();
        assert_eq!(
            asked,
            [ip("198.18.0.254"), ip("198.19.0.11"), ip("198.19.0.12")]
        );
        assert_eq!(
            s.garp_plan(),
            [(0, MacAddr([2, 0, 0, 0, 1, 0]), ip("198.18.0.100"))]
        );
    }

    /// With VRRP a node starts owning nothing; ownership is published at once when it changes
    /// and survives other publications (neighbours, reloads).
    #[test]
    fn vip_ownership_follows_vrrp() {
        let plain = state();
        assert!(plain.snapshot().ha.active && !plain.snapshot().ha.vrrp);
        let cfg = config(&format!(
            "{NAT}\nvrrp: {{vrid: 51, floating: [{{ip: 198.19.0.254, port: int}}]}}\n"
        ));
        let mut s = ControlState::new(cfg, ports(), 1).unwrap();
        let snap = s.snapshot();
        assert!(snap.ha.vrrp && !snap.ha.active);
        assert_eq!(snap.ha.floating, vec![(ip("198.19.0.254"), 1)]);
        assert_eq!(s.set_ha_active(true), Ok(true));
        assert_eq!(s.generation(), 2);
        assert!(s.snapshot().ha.active);
        assert_eq!(
            s.set_ha_active(true),
            Ok(false),
            "no change, no publication"
        );
        assert_eq!(s.generation(), 2);
        s.neighbour_event(NeighEvent::Learned {
            port: 1,
            ip: ip("198.19.0.11"),
            mac: [2, 0, 0, 0, 2, 0x11],
        });
        assert_eq!(s.publish_changes(), Ok(true));
        assert!(s.snapshot().ha.active, "kept across a neighbour update");
        assert_eq!(s.set_ha_active(false), Ok(true));
        assert!(!s.snapshot().ha.active);
    }

    /// The IPv6 services follow health verdicts and weight changes like the IPv4 ones, and a
    /// refused reload leaves them as they were.
    #[test]
    fn ipv6_services_take_health_weights_and_survive_a_refused_reload() {
        const NAT6: &str = include_str!("../../../configs/nat6.yaml");
        let mut s = ControlState::new(config(NAT6), ports(), 1).unwrap();
        let v6 = |s: &ControlState| -> Vec<(String, u32, bool)> {
            s.snapshot().v6.services.services()[0]
                .reals
                .iter()
                .map(|r| (r.addr.to_string(), r.weight, r.available))
                .collect()
        };
        assert_eq!(
            v6(&s),
            [
                ("2001:db8:1::11".to_string(), 1, true),
                ("2001:db8:1::12".to_string(), 2, true)
            ]
        );
        assert_eq!(
            s.snapshot().services.services().len(),
            1,
            "web alone is IPv4's"
        );
        s.set_health(
            [RealKey {
                service: "web6".into(),
                ip: ipa("2001:db8:1::12"),
                port: 80,
            }]
            .into(),
        );
        assert_eq!(s.publish_changes(), Ok(true));
        assert_eq!(v6(&s)[1], ("2001:db8:1::12".to_string(), 2, false));
        assert_eq!(
            s.set_weight("web6", ipa("2001:db8:1::11"), Some(80), 7),
            Ok(1)
        );
        assert_eq!(
            v6(&s),
            [
                ("2001:db8:1::11".to_string(), 7, true),
                ("2001:db8:1::12".to_string(), 2, false)
            ],
            "the health verdict stays across the weight change"
        );
        assert_eq!(
            s.set_weight("web6", ipa("2001:db8:1::99"), Some(80), 1),
            Err("service `web6` has no real [2001:db8:1::99]:80".to_string())
        );
        let generation = s.generation();
        let bad = NAT6.replacen("ip: 2001:db8:1::12,", "ip: 2001:db8:1::12, forward: dr,", 1);
        let bad = bad.replacen(
            "- {ip: 198.19.0.11, port: 80}",
            "- {ip: 198.19.0.11, port: 80, forward: dr}",
            1,
        );
        assert!(
            crate::config::load_str(&bad).is_err(),
            "validation refuses NAT64 over DR"
        );
        assert_eq!(s.generation(), generation);
        assert_eq!(v6(&s)[0], ("2001:db8:1::11".to_string(), 7, true));
    }
}
