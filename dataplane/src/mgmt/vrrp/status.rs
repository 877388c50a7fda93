//! VRRP's state as the control and metrics threads read it: written by the management thread
//! when something changes (an advert heard, a transition), read by `ctl ha` and the metrics.

use crate::ctl::ha::{HaView, VrrpView};
use std::sync::Mutex;
use std::time::Instant;

#[derive(Default, Debug)]
pub struct HaStatus {
    /// The last published view and when the last advert was heard.
    vrrp: Mutex<Option<(VrrpView, Option<Instant>)>>,
}

impl HaStatus {
    /// Called by the management thread only.
    pub fn set(&self, v: VrrpView, heard_at: Option<Instant>) {
        if let Ok(mut g) = self.vrrp.lock() {
            *g = Some((v, heard_at));
        }
    }

    /// The view now (the last advert's age computed at this moment).
    pub fn vrrp(&self) -> Option<VrrpView> {
        let g = self.vrrp.lock().ok()?;
        let (v, at) = g.as_ref()?;
        let mut v = v.clone();
        if let (Some(l), Some(at)) = (v.last_advert.as_mut(), at) {
            l.age_ms = at.elapsed().as_millis() as u64;
        }
        Some(v)
    }

    /// `ctl ha`'s reply.
    pub fn view(&self) -> HaView {
        HaView {
            vrrp: self.vrrp(),
            sync: None,
        }
    }
}
