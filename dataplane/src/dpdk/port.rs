//! Ethernet ports from any DPDK device string: a PCI address (probed by EAL through its
//! allow-list) or a vdev with arguments (probed here with rte_dev_probe). One RX and one TX
//! queue per worker where the device allows it, RSS when it offers it.

use super::cstr::{c, to_string};
use super::mempool::Mempool;
use anyhow::{anyhow, bail, Context, Result};
use std::sync::Arc;

/// One (port, queue) pair a worker polls or transmits on. Only a started `Port` makes these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueRef {
    pub(crate) port: u16,
    pub(crate) queue: u16,
}

impl QueueRef {
    pub fn port(&self) -> u16 {
        self.port
    }
    pub fn queue(&self) -> u16 {
        self.queue
    }
}

/// Basic port counters (rte_eth_stats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortStats {
    pub ipackets: u64,
    pub opackets: u64,
    pub ibytes: u64,
    pub obytes: u64,
    pub imissed: u64,
    pub ierrors: u64,
    pub oerrors: u64,
    pub rx_nombuf: u64,
}

/// One figure of [`PortStats`] as the summary, the metrics and docs/counters.md show it.
#[derive(Clone, Copy, Debug)]
pub struct PortStat {
    /// Its name in the summary and the docs.
    pub name: &'static str,
    /// The metric family it is exported in, and its `direction` label there (if any).
    pub metric: &'static str,
    pub direction: Option<&'static str>,
    pub help: &'static str,
    pub get: fn(&PortStats) -> u64,
}

impl PortStats {
    /// Every figure, declared once (figures that share a metric are adjacent).
    pub const DECLARED: [PortStat; 8] = [
        PortStat {
            name: "rx_packets",
            metric: "dataplane_port_packets_total",
            direction: Some("rx"),
            help: "Packets received by the port.",
            get: |s| s.ipackets,
        },
        PortStat {
            name: "tx_packets",
            metric: "dataplane_port_packets_total",
            direction: Some("tx"),
            help: "Packets sent by the port.",
            get: |s| s.opackets,
        },
        PortStat {
            name: "rx_bytes",
            metric: "dataplane_port_bytes_total",
            direction: Some("rx"),
            help: "Bytes received by the port.",
            get: |s| s.ibytes,
        },
        PortStat {
            name: "tx_bytes",
            metric: "dataplane_port_bytes_total",
            direction: Some("tx"),
            help: "Bytes sent by the port.",
            get: |s| s.obytes,
        },
        PortStat {
            name: "rx_errors",
            metric: "dataplane_port_errors_total",
            direction: Some("rx"),
            help: "Erroneous packets the port received.",
            get: |s| s.ierrors,
        },
        PortStat {
            name: "tx_errors",
            metric: "dataplane_port_errors_total",
            direction: Some("tx"),
            help: "Packets the port failed to send.",
            get: |s| s.oerrors,
        },
        PortStat {
            name: "rx_missed",
            metric: "dataplane_port_missed_total",
            direction: None,
            help: "Packets the port dropped because the RX queues were full.",
            get: |s| s.imissed,
        },
        PortStat {
            name: "rx_nombuf",
            metric: "dataplane_port_rx_nombuf_total",
            direction: None,
            help: "Receive failures for want of an mbuf.",
            get: |s| s.rx_nombuf,
        },
    ];
}

/// How many queues were set up, and whether RSS spreads RX over them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueCounts {
    pub rx: u16,
    pub tx: u16,
    pub rss: bool,
}

/// Is `dev` a PCI address (EAL probes those itself) rather than a vdev?
pub fn is_pci(dev: &str) -> bool {
    let name = dev.split(',').next().unwrap_or("");
    let parts: Vec<&str> = name.split(':').collect();
    let hex = |s: &str, n: usize| s.len() == n && s.chars().all(|c| c.is_ascii_hexdigit());
    let dev_fn = |s: &str| {
        s.split_once('.').is_some_and(|(d, f)| {
            hex(d, 2) && f.len() == 1 && ('0'..='7').contains(&f.chars().next().unwrap_or('x'))
        })
    };
    match parts.as_slice() {
        [dom, bus, df] => hex(dom, 4) && hex(bus, 2) && dev_fn(df),
        [bus, df] => hex(bus, 2) && dev_fn(df),
        _ => false,
    }
}

/// The ethdev name of a device string: what precedes the first ',' (for PCI, the full form).
fn dev_name(dev: &str) -> String {
    let name = dev.split(',').next().unwrap_or("").trim().to_string();
    if is_pci(&name) && name.matches(':').count() == 1 {
        format!("0000:{name}")
    } else {
        name
    }
}

/// A configured and started port. Stopped and closed on drop.
pub struct Port {
    id: u16,
    name: String,
    device: String,
    driver: String,
    queues: QueueCounts,
    mac: [u8; 6],
    /// What `start` applies once the device runs (kept from the setup).
    promiscuous: bool,
    wanted_mac: Option<[u8; 6]>,
    started: bool,
    _pool: Arc<Mempool>,
}

/// What `Port::open` needs besides the device string.
pub struct PortSetup<'a> {
    pub name: &'a str,
    pub device: &'a str,
    pub queues: u16,
    pub rx_desc: u16,
    pub tx_desc: u16,
    pub promiscuous: bool,
    /// Ask the driver to stamp received packets (net_pcap: the capture's time; the replay clock).
    pub rx_timestamp: bool,
    /// A MAC address to give the port instead of the device's own.
    pub mac: Option<[u8; 6]>,
    pub pool: Arc<Mempool>,
}

impl Port {
    /// Probes (for vdevs), configures and starts a port with up to `queues` RX and TX queues.
    pub fn open(s: PortSetup<'_>) -> Result<Port> {
        let mut port = Port::open_stopped(s)?;
        port.start()?;
        Ok(port)
    }

    /// Probes and configures a port without starting it: it delivers nothing until `start`
    /// (the runtime starts data ports only once every worker is ready to poll them).
    pub fn open_stopped(s: PortSetup<'_>) -> Result<Port> {
        let devname = dev_name(s.device);
        if !is_pci(s.device) {
            let args = c(s.device)?;
            // SAFETY: valid C string; DPDK parses and copies it.
            let rc = unsafe { dpdk_sys::rte_dev_probe(args.as_ptr()) };
            if rc != 0 {
                bail!(
                    "cannot probe device `{}`: {} (is the driver name right, e.g. net_af_packet0, net_tap0, net_pcap0, net_ring0, and do its arguments name existing interfaces/files?)",
                    s.device,
                    super::strerror(rc)
                );
            }
        }
        let cname = c(&devname)?;
        let mut id = 0u16;
        // SAFETY: valid C string and out-pointer.
        let rc = unsafe { dpdk_sys::rte_eth_dev_get_port_by_name(cname.as_ptr(), &mut id) };
        if rc != 0 {
            bail!(
                "no DPDK port for device `{}`{}",
                s.device,
                if is_pci(s.device) {
                    " (is it bound to vfio-pci or uio, and not in use?)"
                } else {
                    " (the driver probed it but made no ethernet port)"
                }
            );
        }
        // From here on, a failure must close the port: build the value first so Drop does it.
        let mut port = Port {
            id,
            name: s.name.to_string(),
            device: s.device.to_string(),
            driver: String::new(),
            queues: QueueCounts {
                rx: 0,
                tx: 0,
                rss: false,
            },
            mac: [0; 6],
            promiscuous: s.promiscuous,
            wanted_mac: s.mac,
            started: false,
            _pool: s.pool.clone(),
        };
        port.configure(&s)
            .with_context(|| format!("port `{}` ({})", s.name, s.device))?;
        Ok(port)
    }

    fn configure(&mut self, s: &PortSetup<'_>) -> Result<()> {
        let id = self.id;
        let mut info = dpdk_sys::rte_eth_dev_info::default();
        // SAFETY: valid port id and out-pointer.
        check(
            unsafe { dpdk_sys::rte_eth_dev_info_get(id, &mut info) },
            "dev_info_get",
        )?;
        // SAFETY: driver_name is a static string owned by the driver.
        self.driver = unsafe { to_string(info.driver_name) };
        let nq = s
            .queues
            .min(info.max_rx_queues)
            .min(info.max_tx_queues)
            .max(1);

        let mut conf = dpdk_sys::rte_eth_conf::default();
        // SAFETY: immutable exported constants.
        let wanted = unsafe {
            dpdk_sys::shim_RTE_ETH_RSS_IP
                | dpdk_sys::shim_RTE_ETH_RSS_TCP
                | dpdk_sys::shim_RTE_ETH_RSS_UDP
        };
        let rss_hf = wanted & info.flow_type_rss_offloads;
        let rss = nq > 1 && rss_hf != 0;
        // SAFETY: immutable exported constant.
        let ts = unsafe { dpdk_sys::shim_RTE_ETH_RX_OFFLOAD_TIMESTAMP };
        if s.rx_timestamp && info.rx_offload_capa & ts != 0 {
            conf.rxmode.offloads |= ts;
        }
        if rss {
            conf.rxmode.mq_mode = dpdk_sys::RTE_ETH_MQ_RX_RSS;
            conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
        }
        // SAFETY: valid port id and a fully initialised conf.
        check(
            unsafe { dpdk_sys::rte_eth_dev_configure(id, nq, nq, &conf) },
            "configure",
        )?;
        let (mut nrx, mut ntx) = (s.rx_desc, s.tx_desc);
        // SAFETY: valid port id and out-pointers.
        check(
            unsafe { dpdk_sys::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut nrx, &mut ntx) },
            "adjust descriptors",
        )?;
        // SAFETY: plain query.
        let socket = unsafe { dpdk_sys::rte_eth_dev_socket_id(id) };
        let socket = if socket < 0 { 0 } else { socket as u32 };
        for q in 0..nq {
            // SAFETY: valid port/queue, a live pool; null conf means the driver's defaults.
            check(
                unsafe {
                    dpdk_sys::rte_eth_rx_queue_setup(
                        id,
                        q,
                        nrx,
                        socket,
                        std::ptr::null(),
                        s.pool.as_ptr(),
                    )
                },
                "rx queue setup",
            )?;
            // SAFETY: as above.
            check(
                unsafe { dpdk_sys::rte_eth_tx_queue_setup(id, q, ntx, socket, std::ptr::null()) },
                "tx queue setup",
            )?;
        }
        let mut mac = dpdk_sys::rte_ether_addr::default();
        // SAFETY: valid port id and out-pointer.
        check(
            unsafe { dpdk_sys::rte_eth_macaddr_get(id, &mut mac) },
            "macaddr_get",
        )?;
        // The configured MAC is the port's from now on (set on the device by `start`).
        self.mac = s.mac.unwrap_or(mac.addr_bytes);
        self.queues = QueueCounts {
            rx: nq,
            tx: nq,
            rss,
        };
        Ok(())
    }

    /// Starts the device (it begins to deliver packets), then turns on promiscuous mode and sets
    /// the configured MAC, in the order DPDK's drivers expect.
    pub fn start(&mut self) -> Result<()> {
        let id = self.id;
        let what = format!("port `{}` ({})", self.name, self.device);
        // SAFETY: configured port.
        check(unsafe { dpdk_sys::rte_eth_dev_start(id) }, "start").context(what.clone())?;
        self.started = true;
        if self.promiscuous {
            // SAFETY: started port. Some vdevs (net_ring, net_pcap) do not support it: not fatal.
            let rc = unsafe { dpdk_sys::rte_eth_promiscuous_enable(id) };
            if rc != 0 && rc != -(libc::ENOTSUP) {
                tracing::warn!(port = %self.name, "cannot enable promiscuous mode: {}", super::strerror(rc));
            }
        }
        if let Some(m) = self.wanted_mac {
            let mut want = dpdk_sys::rte_ether_addr { addr_bytes: m };
            // SAFETY: valid port id and a MAC value.
            let rc = unsafe { dpdk_sys::rte_eth_dev_default_mac_addr_set(id, &mut want) };
            if rc == -(libc::ENOTSUP) {
                // Devices without MAC filters (net_pcap, net_ring) take every frame anyway: the
                // configured MAC is simply the one the appliance uses on this port.
                tracing::debug!(port = %self.name, "device cannot change its MAC; using the configured one in software");
            } else {
                check(rc, "set MAC address").context(what)?;
            }
        }
        Ok(())
    }

    pub fn id(&self) -> u16 {
        self.id
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn device(&self) -> &str {
        &self.device
    }
    pub fn driver(&self) -> &str {
        &self.driver
    }
    pub fn queues(&self) -> QueueCounts {
        self.queues
    }
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// The handle for queue `q` (RX and TX share the number); None past the configured count.
    pub fn queue(&self, q: u16) -> Option<QueueRef> {
        (q < self.queues.rx).then_some(QueueRef {
            port: self.id,
            queue: q,
        })
    }

    /// Link up?, speed in Mb/s.
    pub fn link(&self) -> (bool, u32) {
        let mut link = dpdk_sys::rte_eth_link::default();
        // SAFETY: valid port and out-pointer; does not wait.
        let rc = unsafe { dpdk_sys::rte_eth_link_get_nowait(self.id, &mut link) };
        if rc != 0 {
            return (false, 0);
        }
        (
            link.link_status() == dpdk_sys::RTE_ETH_LINK_UP as u16,
            link.link_speed,
        )
    }

    pub fn stats(&self) -> PortStats {
        stats_of(self.id)
    }

    /// Every extended statistic the driver reports, by name.
    pub fn xstats(&self) -> Result<Vec<(String, u64)>> {
        xstats_of(self.id)
    }
}

/// A port's basic counters by DPDK port id, for threads that do not own the `Port` (metrics).
/// Reading counters does not disturb the workers; a closed or unknown port reads as zeros.
pub fn stats_of(id: u16) -> PortStats {
    let mut st = dpdk_sys::rte_eth_stats::default();
    // SAFETY: valid port and out-pointer.
    if unsafe { dpdk_sys::rte_eth_stats_get(id, &mut st) } != 0 {
        return PortStats::default();
    }
    PortStats {
        ipackets: st.ipackets,
        opackets: st.opackets,
        ibytes: st.ibytes,
        obytes: st.obytes,
        imissed: st.imissed,
        ierrors: st.ierrors,
        oerrors: st.oerrors,
        rx_nombuf: st.rx_nombuf,
    }
}

/// A port's extended statistics by DPDK port id (see [`stats_of`]).
pub fn xstats_of(id: u16) -> Result<Vec<(String, u64)>> {
    // SAFETY: a null array asks for the count.
    let n = unsafe { dpdk_sys::rte_eth_xstats_get_names(id, std::ptr::null_mut(), 0) };
    if n < 0 {
        return Err(anyhow!("xstats: {}", super::strerror(n)));
    }
    let mut names = vec![dpdk_sys::rte_eth_xstat_name::default(); n as usize];
    let mut vals = vec![dpdk_sys::rte_eth_xstat::default(); n as usize];
    // SAFETY: arrays of `n` elements.
    let got = unsafe { dpdk_sys::rte_eth_xstats_get_names(id, names.as_mut_ptr(), n as u32) };
    // SAFETY: arrays of `n` elements.
    let got2 = unsafe { dpdk_sys::rte_eth_xstats_get(id, vals.as_mut_ptr(), n as u32) };
    if got < 0 || got2 < 0 {
        return Err(anyhow!("xstats: {}", super::strerror(got.min(got2))));
    }
    let cnt = (got.min(got2)) as usize;
    Ok(vals[..cnt]
        .iter()
        .filter_map(|v| {
            let nm = names.get(v.id as usize)?;
            // SAFETY: the name is a NUL-terminated fixed-size C array filled by the driver.
            let s = unsafe { to_string(nm.name.as_ptr()) };
            Some((s, v.value))
        })
        .collect())
}

impl Drop for Port {
    fn drop(&mut self) {
        // SAFETY: workers using this port have been joined (runtime teardown order).
        unsafe {
            if self.started {
                dpdk_sys::rte_eth_dev_stop(self.id);
            }
            dpdk_sys::rte_eth_dev_close(self.id);
        }
    }
}

fn check(rc: i32, what: &str) -> Result<()> {
    if rc < 0 {
        bail!("{what}: {}", super::strerror(rc));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pci_detection() {
        assert!(is_pci("0000:03:00.0"));
        assert!(is_pci("03:00.1"));
        assert!(!is_pci("net_ring0"));
        assert!(!is_pci("net_af_packet0,iface=lb-ext"));
        assert!(!is_pci("0000:03:00.9"));
        assert_eq!(dev_name("03:00.1"), "0000:03:00.1");
        assert_eq!(dev_name("net_pcap0,rx_pcap=a.pcap"), "net_pcap0");
    }
}
