//! Neighbour state kept by the management thread: static entries, what workers saw in ARP
//! packets, and the next hops the appliance needs (real servers and gateways), which it
//! resolves on its own, so a worker rarely meets an unknown neighbour. Learned entries are
//! replaced when a newer ARP says otherwise and are re-asked periodically.

use super::health::RealKey;
use crate::config::Config;
use crate::lb::neigh::{MacBytes, NeighEvent, NeighTable};
use crate::lb::route::PortIdx;
use crate::lb::service::ServiceSpec;
use crate::lb::snapshot::{PortInfo, Snapshot};
use crate::wire::MacAddr;
use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::time::Duration;

/// Ask an unresolved next hop again after this long.
const RETRY: Duration = Duration::from_secs(1);
/// Re-ask a resolved one after this long (keeps entries fresh if a real server's MAC changes).
const REFRESH: Duration = Duration::from_secs(30);
/// A learned entry not confirmed by any ARP for this long is forgotten (asked again on need).
const STALE: Duration = Duration::from_secs(300);

pub struct Neighbours {
    cfg: Config,
    ports: Vec<PortInfo>,
    specs: Vec<ServiceSpec>,
    statics: HashMap<Ipv4Addr, MacBytes>,
    learned: HashMap<Ipv4Addr, MacBytes>,
    /// When each learned entry was last confirmed by an ARP packet.
    confirmed: HashMap<Ipv4Addr, Duration>,
    /// The management thread's clock as of the last `due_requests`.
    clock: Duration,
    /// Next hops to keep resolved, and when each was last asked.
    wanted: HashMap<Ipv4Addr, (PortIdx, Option<Duration>)>,
    dirty: bool,
    generation: u64,
    /// Reals that health checks say are down (no new connections).
    down: HashSet<RealKey>,
}

impl Neighbours {
    pub fn new(
        cfg: Config,
        ports: Vec<PortInfo>,
        specs: Vec<ServiceSpec>,
        generation: u64,
    ) -> Neighbours {
        let statics = cfg.neighbors.iter().map(|n| (n.ip, n.mac.0)).collect();
        Neighbours {
            cfg,
            ports,
            specs,
            statics,
            learned: HashMap::new(),
            confirmed: HashMap::new(),
            clock: Duration::ZERO,
            wanted: HashMap::new(),
            dirty: false,
            generation,
            down: HashSet::new(),
        }
    }

    pub fn table(&self) -> NeighTable {
        NeighTable::from_entries(
            self.learned
                .iter()
                .chain(self.statics.iter())
                .map(|(a, m)| (*a, *m)),
        )
    }

    pub fn event(&mut self, e: NeighEvent) {
        match e {
            NeighEvent::Learned { ip, mac, .. } => {
                if self.statics.contains_key(&ip) || mac == [0; 6] || mac[0] & 1 != 0 {
                    return;
                }
                self.confirmed.insert(ip, self.clock);
                if self.learned.insert(ip, mac) != Some(mac) {
                    tracing::debug!(%ip, mac = %MacAddr(mac), "neighbour learned");
                    self.dirty = true;
                }
            }
            NeighEvent::Missing { port, ip } => {
                self.wanted.entry(ip).or_insert((port, None));
            }
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Takes the health checks' verdict: the reals in `down` take no new connections. A change
    /// makes the next tick publish a snapshot.
    pub fn set_down(&mut self, down: HashSet<RealKey>) {
        if down == self.down {
            return;
        }
        let specs = crate::lb::snapshot::service_specs(&self.cfg, &available(&down));
        match specs {
            Ok(specs) => {
                self.down = down;
                self.specs = specs;
                self.dirty = true;
            }
            Err(e) => tracing::error!("cannot apply the health state: {e}"),
        }
    }

    pub fn take_dirty(&mut self) -> bool {
        std::mem::replace(&mut self.dirty, false)
    }

    /// A new snapshot equal to `snap` but with the current neighbour table.
    pub fn republish(&mut self, snap: &Snapshot) -> Result<Snapshot, String> {
        self.generation = self.generation.max(snap.generation) + 1;
        Snapshot::build(
            self.generation,
            &self.cfg,
            self.ports.clone(),
            self.table(),
            &self.specs,
            Some(snap),
            snap.n_workers,
        )
    }

    /// Takes a new config's services (the rest must be unchanged) and returns the snapshot
    /// that applies them. Nothing changes on error.
    pub fn apply_config(&mut self, new: Config, snap: &Snapshot) -> Result<Snapshot, String> {
        let old = &self.cfg;
        for (key, same) in [
            ("eal", old.eal == new.eal),
            ("workers", old.workers == new.workers),
            ("ports", old.ports == new.ports),
            ("routes", old.routes == new.routes),
            ("mode", old.mode == new.mode),
            ("conn", old.conn == new.conn),
        ] {
            if !same {
                return Err(format!("{key}: changing it needs a restart"));
            }
        }
        let specs = crate::lb::snapshot::service_specs(&new, &available(&self.down))?;
        let generation = self.generation.max(snap.generation) + 1;
        let old_statics = std::mem::replace(
            &mut self.statics,
            new.neighbors.iter().map(|n| (n.ip, n.mac.0)).collect(),
        );
        let next = match Snapshot::build(
            generation,
            &new,
            self.ports.clone(),
            self.table(),
            &specs,
            Some(snap),
            snap.n_workers,
        ) {
            Ok(n) => n,
            Err(e) => {
                self.statics = old_statics;
                return Err(e);
            }
        };
        self.generation = generation;
        self.cfg = new;
        self.specs = specs;
        Ok(next)
    }

    /// ARP requests to send now: (port, our MAC, our IP there, target). Covers every next hop
    /// the config needs (real servers, gateways) and those workers reported missing.
    pub fn due_requests(
        &mut self,
        snap: &Snapshot,
        now: Duration,
    ) -> Vec<(PortIdx, MacAddr, Ipv4Addr, Ipv4Addr)> {
        self.clock = now;
        let stale: Vec<Ipv4Addr> = self
            .confirmed
            .iter()
            .filter(|(_, &at)| now > at + STALE)
            .map(|(ip, _)| *ip)
            .collect();
        for ip in stale {
            tracing::debug!(%ip, "neighbour forgotten: no ARP from it for {}s", STALE.as_secs());
            self.confirmed.remove(&ip);
            self.learned.remove(&ip);
            self.dirty = true;
        }
        let mut hops: Vec<Ipv4Addr> = snap
            .services
            .services()
            .iter()
            .flat_map(|s| s.reals.iter().map(|r| r.addr))
            // A local real is our own address: nothing to resolve.
            .filter(|a| snap.own_port(*a).is_none())
            .filter_map(|a| snap.routes.lookup(a).map(|h| h.next_hop))
            .collect();
        hops.extend(self.cfg.routes.iter().map(|r| r.via));
        for ip in hops {
            if let Some(h) = snap.routes.lookup(ip) {
                self.wanted.entry(ip).or_insert((h.port, None));
            }
        }
        let mut out = Vec::new();
        for (ip, (port, asked)) in self.wanted.iter_mut() {
            if self.statics.contains_key(ip) {
                continue;
            }
            let every = if self.learned.contains_key(ip) {
                REFRESH
            } else {
                RETRY
            };
            if asked.is_some_and(|a| now < a + every) {
                continue;
            }
            let Some(p) = self.ports.get(usize::from(*port)) else {
                continue;
            };
            let Some((our_ip, _)) = p.ip else {
                continue;
            };
            *asked = Some(now);
            out.push((*port, MacAddr(p.mac), our_ip, *ip));
        }
        out
    }

    /// Gratuitous ARPs announcing every VIP: on the ports whose subnet holds it, or on every
    /// addressed port when none does. (port, MAC, VIP).
    pub fn garp_plan(&self, snap: &Snapshot) -> Vec<(PortIdx, MacAddr, Ipv4Addr)> {
        let mut out = Vec::new();
        let mut vips: Vec<Ipv4Addr> = snap.services.services().iter().map(|s| s.key.vip).collect();
        vips.sort();
        vips.dedup();
        for vip in vips {
            let on: Vec<(usize, &PortInfo)> = self
                .ports
                .iter()
                .enumerate()
                .filter(|(_, p)| p.ip.is_some_and(|(a, l)| same_subnet(a, vip, l)))
                .collect();
            let chosen: Vec<(usize, &PortInfo)> = if on.is_empty() {
                self.ports
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.ip.is_some())
                    .collect()
            } else {
                on
            };
            for (i, p) in chosen {
                out.push((i as PortIdx, MacAddr(p.mac), vip));
            }
        }
        out
    }
}

/// The `available` rule of `service_specs` for a set of down reals.
fn available(down: &HashSet<RealKey>) -> impl Fn(&str, Ipv4Addr, u16) -> bool + '_ {
    move |service, ip, port| {
        down.is_empty()
            || !down.contains(&RealKey {
                service: service.to_string(),
                ip,
                port,
            })
    }
}

fn same_subnet(a: Ipv4Addr, b: Ipv4Addr, len: u8) -> bool {
    let mask = crate::lb::route::prefix_mask(len);
    u32::from(a) & mask == u32::from(b) & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(name: &str, id: u16, ip: &str) -> PortInfo {
        PortInfo {
            name: name.into(),
            dpdk_id: id,
            mac: [2, 0, 0, 0, 1, id as u8],
            ip: Some((ip.parse().unwrap(), 24)),
            mtu: 1500,
            exception: false,
        }
    }

    fn availability(snap: &Snapshot, service: &str) -> Vec<(Ipv4Addr, bool)> {
        snap.services
            .services()
            .iter()
            .find(|s| s.name == service)
            .unwrap()
            .reals
            .iter()
            .map(|r| (r.addr, r.available))
            .collect()
    }

    #[test]
    fn health_verdicts_reach_the_snapshot_and_survive_a_reload() {
        let text = include_str!("../../../configs/nat.yaml");
        let cfg = crate::config::load_str(text).unwrap();
        let ports = vec![port("ext", 0, "198.18.0.1"), port("int", 1, "198.19.0.1")];
        let specs = crate::lb::snapshot::service_specs(&cfg, &|_, _, _| true).unwrap();
        let mut n = Neighbours::new(cfg.clone(), ports.clone(), specs.clone(), 1);
        let snap = Snapshot::build(1, &cfg, ports, n.table(), &specs, None, 1).unwrap();
        let (r1, r2): (Ipv4Addr, Ipv4Addr) = (
            "198.19.0.11".parse().unwrap(),
            "198.19.0.12".parse().unwrap(),
        );
        let key = RealKey {
            service: "web".into(),
            ip: r2,
            port: 80,
        };
        n.set_down(HashSet::from([key.clone()]));
        assert!(n.take_dirty());
        let snap2 = n.republish(&snap).unwrap();
        assert_eq!(availability(&snap2, "web"), [(r1, true), (r2, false)]);
        assert_eq!(
            availability(&snap2, "echo"),
            [(r1, true), (r2, true)],
            "only the web service's real is down"
        );
        assert!(snap2.services_generation > snap.services_generation);
        // The same verdict again changes nothing.
        n.set_down(HashSet::from([key]));
        assert!(!n.take_dirty());
        // A reload that keeps the real keeps it down.
        let reloaded = crate::config::load_str(&text.replacen("weight: 1}", "weight: 2}", 1));
        let snap3 = n.apply_config(reloaded.unwrap(), &snap2).unwrap();
        assert_eq!(availability(&snap3, "web"), [(r1, true), (r2, false)]);
        n.set_down(HashSet::new());
        assert!(n.take_dirty());
        let snap4 = n.republish(&snap3).unwrap();
        assert_eq!(availability(&snap4, "web"), [(r1, true), (r2, true)]);
    }

    #[test]
    fn learns_asks_and_forgets() {
        let cfg = crate::config::load_str(include_str!("../../../configs/nat.yaml")).unwrap();
        let ports = vec![port("ext", 0, "198.18.0.1"), port("int", 1, "198.19.0.1")];
        let specs = crate::lb::snapshot::service_specs(&cfg, &|_, _, _| true).unwrap();
        let mut n = Neighbours::new(cfg.clone(), ports.clone(), specs.clone(), 1);
        let snap = Snapshot::build(1, &cfg, ports, n.table(), &specs, None, 1).unwrap();
        // At start it asks for every real and the gateway, once.
        let asked: Vec<Ipv4Addr> = n
            .due_requests(&snap, Duration::ZERO)
            .iter()
            .map(|r| r.3)
            .collect();
        for ip in ["198.19.0.11", "198.19.0.12", "198.18.0.254"] {
            assert!(
                asked.contains(&ip.parse().unwrap()),
                "{ip} not asked: {asked:?}"
            );
        }
        assert!(
            n.due_requests(&snap, Duration::from_millis(10)).is_empty(),
            "not again at once"
        );
        // An answer is learned; unanswered ones are asked again after a second.
        let r1: Ipv4Addr = "198.19.0.11".parse().unwrap();
        n.event(NeighEvent::Learned {
            port: 1,
            ip: r1,
            mac: [2, 0, 0, 0, 2, 0x11],
        });
        assert!(n.take_dirty());
        assert_eq!(n.table().get(r1), Some([2, 0, 0, 0, 2, 0x11]));
        let again: Vec<Ipv4Addr> = n
            .due_requests(&snap, Duration::from_millis(1500))
            .iter()
            .map(|r| r.3)
            .collect();
        assert!(!again.contains(&r1) && again.contains(&"198.19.0.12".parse().unwrap()));
        // Nothing confirms it for five minutes: forgotten.
        let _ = n.due_requests(&snap, Duration::from_secs(400));
        assert!(n.take_dirty());
        assert_eq!(n.table().get(r1), None);
        // Multicast and zero MACs are never learned.
        n.event(NeighEvent::Learned {
            port: 1,
            ip: r1,
            mac: [1, 0, 0x5e, 0, 0, 1],
        });
        assert_eq!(n.table().get(r1), None);
    }

    /// A local real (our own address) is never asked for by ARP.
    #[test]
    fn a_local_real_is_not_resolved() {
        let text = include_str!("../../../configs/nat.yaml").replacen(
            "      - {ip: 198.19.0.12, weight: 1}\n",
            "      - {ip: 198.19.0.12, weight: 1}\n      - {ip: 198.19.0.1, port: 8080}\n",
            1,
        );
        let cfg = crate::config::load_str(&text).unwrap();
        let ports = vec![port("ext", 0, "198.18.0.1"), port("int", 1, "198.19.0.1")];
        let specs = crate::lb::snapshot::service_specs(&cfg, &|_, _, _| true).unwrap();
        let mut n = Neighbours::new(cfg.clone(), ports.clone(), specs.clone(), 1);
        let snap = Snapshot::build(1, &cfg, ports, n.table(), &specs, None, 1).unwrap();
        let mut asked: Vec<Ipv4Addr> = n
            .due_requests(&snap, Duration::ZERO)
            .iter()
            .map(|r| r.3)
            .collect();
        asked.sort();
        let want: Vec<Ipv4Addr> = ["198.18.0.254", "198.19.0.11", "198.19.0.12"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        assert_eq!(asked, want);
    }
}
