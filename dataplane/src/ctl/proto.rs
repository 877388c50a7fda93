//! The control socket's protocol, shared by the server (mgmt::control) and `dataplane ctl`:
//! one JSON request per line, one JSON response per line. Requests are tagged by `cmd`:
//! `{"cmd":"list","stats":true}`, `{"cmd":"conns","service":"web"}`,
//! `{"cmd":"weight","service":"web","real":"198.19.0.11","weight":0}`, ... (docs/ctl.md).

use crate::config::{ForwardMode, SchedKind};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "cmd", rename_all = "lowercase", deny_unknown_fields)]
pub enum Request {
    /// Services and reals (`ipvsadm -Ln`); with traffic totals and/or rates.
    List {
        #[serde(default)]
        stats: bool,
        #[serde(default)]
        rate: bool,
    },
    /// Connections (`ipvsadm -Lnc`), optionally filtered.
    Conns {
        /// A service name.
        #[serde(default)]
        service: Option<String>,
        #[serde(default)]
        client: Option<IpAddr>,
        /// `IP`, `IPv4:PORT` or `[IPv6]:PORT` of a real server.
        #[serde(default)]
        real: Option<String>,
    },
    /// Sets a real's weight in the running config (until the next reload from the file).
    Weight {
        service: String,
        real: String,
        weight: u32,
    },
    /// Weight 0: no new connections; existing ones continue.
    Drain { service: String, real: String },
    /// Drains the whole node: VIPs withdrawn, stop when no connection is left (docs/bgp.md).
    #[serde(rename = "drain_node")]
    DrainNode {},
    /// VIP announcement over BGP and the node's drain (`ctl bgp`).
    Bgp {},
    /// The node's state: serving, draining (connections left) or stopping (`ctl status`; the
    /// same reply as `bgp`).
    Status {},
    /// Re-reads the config file (as SIGHUP does) and says whether it was applied.
    Reload {},
    /// Each real's health as the appliance knows it.
    Health {},
    /// Each worker's counters since start (`ctl top` makes rates of two of them).
    Workers {},

    /// Every counter of the workers, the management thread and the ports, by name.
    Stats {},
    /// Connection sync's state and counters (`ctl sync`).
    Sync {},
    /// High availability: VRRP (and connection sync) state (`ctl::ha`).
    Ha {},
}

/// Every response: `ok` with a `result`, or not `ok` with an `error`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Response {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub result: serde_json::Value,
}

impl Response {
    pub fn ok(result: impl Serialize) -> Response {
        match serde_json::to_value(result) {
            Ok(v) => Response {
                ok: true,
                error: None,
                result: v,
            },
            Err(e) => Response::err(format!("cannot encode the result: {e}")),
        }
    }

    pub fn err(msg: impl Into<String>) -> Response {
        Response {
            ok: false,
            error: Some(msg.into()),
            result: serde_json::Value::Null,
        }
    }
}

/// Traffic totals since start (a service's are the sum of its reals').
#[derive(Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq)]
pub struct Traffic {
    pub conns: u64,
    pub pkts_in: u64,
    pub pkts_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// Per-second rates over the last sampling interval (`ipvsadm --rate`).
#[derive(Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq)]
pub struct Rate {
    pub cps: f64,
    pub pps_in: f64,
    pub pps_out: f64,
    /// Bytes per second.
    pub bps_in: f64,
    pub bps_out: f64,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct PersistView {
    pub timeout_s: u64,
    pub netmask: Ipv4Addr,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct RealView {
    /// IPv4 or IPv6.
    pub addr: IpAddr,
    /// 0: the client's destination port (a port-0 service).
    pub port: u16,
    /// nat, dr or tun.
    pub forward: ForwardMode,
    pub weight: u32,
    /// Connections in ESTABLISHED, summed over workers.
    pub active: u64,
    /// Other connections, summed over workers.
    pub inactive: u64,
    /// May take new connections (health checks pass).
    pub available: bool,
    /// Marked overloaded by a worker: at its upper_threshold, it takes no new connections
    /// until it falls below its lower one.
    #[serde(default)]
    pub overloaded: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<Traffic>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<Rate>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ServiceView {
    pub name: String,
    /// tcp or udp.
    pub protocol: String,
    /// IPv4 or IPv6.
    pub vip: IpAddr,
    pub port: u16,
    pub scheduler: SchedKind,
    pub forward: ForwardMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence: Option<PersistView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<Traffic>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<Rate>,
    pub reals: Vec<RealView>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ListView {
    pub services: Vec<ServiceView>,
    /// The interval the rates were measured over, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_interval_ms: Option<u64>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ConnView {
    /// TCP, UDP or ICMP.
    pub proto: String,
    /// The IPVS state name (ESTABLISHED, TIME_WAIT, ...; NONE for UDP).
    pub state: String,
    /// Seconds until it expires if no packet comes.
    pub expire_s: u64,
    pub client: String,
    pub vip: String,
    pub real: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    pub worker: u16,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ConnsView {
    pub conns: Vec<ConnView>,
    /// False when a worker did not finish its listing in time (the list is partial).
    pub complete: bool,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct HealthRow {
    pub service: String,
    pub real: String,
    pub weight: u32,
    pub available: bool,
    /// up or down.
    pub state: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct HealthView {
    pub reals: Vec<HealthRow>,
}

/// One worker's counters since start, as published (every 100 ms).
#[derive(Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq)]
pub struct WorkerView {
    pub worker: u16,
    /// Polls that found packets, and empty ones.
    pub busy_polls: u64,
    pub idle_polls: u64,
    pub rx: u64,
    pub tx: u64,
    /// Drops of every reason, tx_full included.
    pub drops: u64,
    pub handoffs_out: u64,
    pub handoffs_in: u64,
    /// Connections in its table now (reals of the current config).
    pub connections: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct WorkersView {
    pub workers: Vec<WorkerView>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Message {
    pub message: String,
}

/// `IP`, `IPv4:PORT` or `[IPv6]:PORT` of a real server.
pub fn parse_real(s: &str) -> Result<(IpAddr, Option<u16>), String> {
    crate::config::parse_addr_port(s).map_err(|e| format!("{e} of a real server"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_refuse_unknown_keys() {
        let r: Request = serde_json::from_str(r#"{"cmd":"list","stats":true}"#).unwrap();
        assert_eq!(
            r,
            Request::List {
                stats: true,
                rate: false
            }
        );
        let w = Request::Weight {
            service: "web".into(),
            real: "198.19.0.11:80".into(),
            weight: 3,
        };
        let back: Request = serde_json::from_str(&serde_json::to_string(&w).unwrap()).unwrap();
        assert_eq!(back, w);
        assert!(serde_json::from_str::<Request>(r#"{"cmd":"reload","x":1}"#).is_err());
        assert!(serde_json::from_str::<Request>(r#"{"cmd":"nope"}"#).is_err());
        assert!(serde_json::from_str::<Request>("not json").is_err());
    }

    #[test]
    fn real_addresses() {
        assert_eq!(
            parse_real("198.19.0.11"),
            Ok(("198.19.0.11".parse().unwrap(), None))
        );
        assert_eq!(
            parse_real("198.19.0.11:8080"),
            Ok(("198.19.0.11".parse().unwrap(), Some(8080)))
        );
        assert!(parse_real("198.19.0.11:x").is_err());
        assert!(parse_real("web").is_err());
        assert!(parse_real("").is_err());
        assert_eq!(
            parse_real("[2001:db8:1::11]:80"),
            Ok(("2001:db8:1::11".parse().unwrap(), Some(80)))
        );
        assert_eq!(
            parse_real("2001:db8:1::11"),
            Ok(("2001:db8:1::11".parse().unwrap(), None))
        );
        assert_eq!(
            parse_real("[2001:db8:1::11]:x").unwrap_err(),
            "`[2001:db8:1::11]:x` is not IP, IPv4:PORT or [IPv6]:PORT of a real server"
        );
    }
}
