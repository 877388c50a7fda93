//! Reload on file change (`control.watch_config`): the management thread looks at the config
//! file's modification time once a second; a change reloads it as SIGHUP would.

use std::path::PathBuf;
use std::time::{Instant, SystemTime};

use crate::tunables::CONFIG_WATCH_EVERY as EVERY;

pub struct ConfigWatch {
    path: PathBuf,
    seen: Option<SystemTime>,
    checked: Instant,
}

fn mtime(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl ConfigWatch {
    pub fn new(path: PathBuf) -> ConfigWatch {
        ConfigWatch {
            seen: mtime(&path),
            path,
            checked: Instant::now(),
        }
    }

    /// True once per change of the file (at most one stat per second).
    pub fn changed(&mut self) -> bool {
        if self.checked.elapsed() < EVERY {
            return false;
        }
        self.checked = Instant::now();
        let now = mtime(&self.path);
        if now.is_some() && now != self.seen {
            self.seen = now;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn sees_a_change_once() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lb.yaml");
        std::fs::write(&p, "a").unwrap();
        let mut w = ConfigWatch::new(p.clone());
        w.checked -= EVERY;
        assert!(!w.changed(), "unchanged file");
        let later = SystemTime::now() + Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(later)
            .unwrap();
        w.checked -= EVERY;
        assert!(w.changed());
        w.checked -= EVERY;
        assert!(!w.changed(), "reported once");
    }
}
