//! The announcer's and the drain's state as the control and metrics threads read it: written by
//! the announcer's thread (routes, daemon, errors) and the management thread (drain, stop),
//! read by `ctl bgp` and the metrics.

use crate::ctl::bgp::{BgpView, DrainView, VipView};
use std::sync::Mutex;

#[derive(Default, Debug)]
pub struct BgpStatus {
    /// The announcer's part (None: no `bgp` section).
    routes: Mutex<Option<Routes>>,
    /// The management thread's part.
    node: Mutex<(Option<DrainView>, bool)>,
}

/// What the announcer last knew.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Routes {
    pub api: String,
    pub daemon_reachable: Option<bool>,
    pub last_error: Option<String>,
    pub cli_errors: u64,
    pub vips: Vec<VipView>,
}

impl BgpStatus {
    /// The announcer's thread: its state after a round (None: announcing stopped).
    pub fn set_routes(&self, r: Option<Routes>) {
        if let Ok(mut g) = self.routes.lock() {
            *g = r;
        }
    }

    /// The management thread: the drain (None: not draining) and whether the node stops.
    pub fn set_node(&self, drain: Option<DrainView>, stopping: bool) {
        if let Ok(mut g) = self.node.lock() {
            *g = (drain, stopping);
        }
    }

    /// `ctl bgp`'s reply.
    pub fn view(&self) -> BgpView {
        let routes = self.routes.lock().ok().and_then(|g| g.clone());
        let (drain, stopping) = self.node.lock().map(|g| g.clone()).unwrap_or((None, false));
        let mut v = BgpView {
            drain,
            stopping,
            ..BgpView::default()
        };
        if let Some(r) = routes {
            v.enabled = true;
            v.api = Some(r.api);
            v.daemon_reachable = r.daemon_reachable;
            v.last_error = r.last_error;
            v.cli_errors = r.cli_errors;
            v.vips = r.vips;
        }
        v
    }

    /// The announcer's routes: whether any VIP is in the daemon now.
    pub fn any_announced(&self) -> bool {
        self.routes.lock().ok().is_some_and(|g| {
            g.as_ref()
                .is_some_and(|r| r.vips.iter().any(|v| v.announced))
        })
    }
}
