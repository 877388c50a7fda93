//! The anti-replay window on sequence numbers, one per sender (RFC 4303 §3.4.3's sliding
//! bitmap, 64 wide): a datagram is accepted once, and only if its sequence number is newer than
//! the newest seen minus 63.

/// Why a sequence number is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowError {
    /// Seen already (inside the window).
    Replayed,
    /// Older than the window: can no longer be told apart from a replay.
    TooOld,
}

/// The window of one sender: the highest sequence number accepted and a bitmap of the 64
/// numbers at and below it (bit `i` = `top - i` was accepted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplayWindow {
    top: u64,
    seen: u64,
}

/// Width of the window.
pub const WINDOW: u64 = 64;

impl ReplayWindow {
    /// Whether `seq` would be accepted, without recording it (checked before the HMAC, recorded
    /// only after it: a forged datagram must not move the window).
    pub fn check(&self, seq: u64) -> Result<(), WindowError> {
        if self.seen == 0 || seq > self.top {
            return Ok(());
        }
        let back = self.top - seq;
        if back >= WINDOW {
            return Err(WindowError::TooOld);
        }
        if self.seen & (1u64 << back) != 0 {
            return Err(WindowError::Replayed);
        }
        Ok(())
    }

    /// Records an accepted `seq` (after [`ReplayWindow::check`] and authentication).
    pub fn accept(&mut self, seq: u64) {
        if self.seen == 0 {
            self.top = seq;
            self.seen = 1;
        } else if seq > self.top {
            let shift = seq - self.top;
            self.seen = if shift >= WINDOW {
                1
            } else {
                (self.seen << shift) | 1
            };
            self.top = seq;
        } else {
            let back = self.top - seq;
            if back < WINDOW {
                self.seen |= 1u64 << back;
            }
        }
    }

    /// The newest sequence number accepted (0 before any).
    pub fn top(&self) -> u64 {
        self.top
    }
}
