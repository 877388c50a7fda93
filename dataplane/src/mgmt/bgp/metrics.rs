//! The announcer's and the drain's metric families: `dataplane_draining` (always),
//! `dataplane_bgp_announced{vip}` and `dataplane_bgp_cli_errors_total` (with `bgp`).

use crate::mgmt::control::Sources;
use crate::mgmt::metrics::exposition::{family, Labels};
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;
use std::fmt::Error;

pub fn encode(enc: &mut DescriptorEncoder, src: &Sources) -> Result<(), Error> {
    let v = src.bgp.view();
    family(
        enc,
        "dataplane_draining",
        MetricType::Gauge,
        "1 while the node drains (ctl drain, or SIGTERM with bgp): VIPs withdrawn, stopping \
         when no connection is left or drain.grace runs out; else 0.",
        [(Labels::new(), u64::from(v.drain.is_some()))],
    )?;
    if !v.enabled {
        return Ok(());
    }
    family(
        enc,
        "dataplane_bgp_announced",
        MetricType::Gauge,
        "1 while the VIP's /32 is in the BGP daemon's RIB (announced by this node), else 0.",
        v.vips
            .iter()
            .map(|r| (vec![("vip", r.vip.to_string())], u64::from(r.announced))),
    )?;
    family(
        enc,
        "dataplane_bgp_cli_errors_total",
        MetricType::Counter,
        "Calls of the BGP daemon's CLI that failed (daemon unreachable, refused, timed out).",
        [(Labels::new(), v.cli_errors)],
    )
}
