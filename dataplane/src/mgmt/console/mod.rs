//! The web console (docs/console.md): one page, served on loopback by default, that shows what
//! `dataplane ctl list` shows and updates itself every second, with per-worker load and drops
//! and the running config; and that sets weights, drains reals, checks the config file and
//! reloads it. Every read and every change goes through the control socket's request handling
//! (`control::Server::handle`), so the console acts exactly as `ctl` does and a refusal carries
//! the same reason. Its threads are the management side's: bounded (at most `MAX_CLIENTS`
//! requests at once, each on a short-lived thread), never touching a worker.

mod api;
mod guard;
mod http;
mod server;

use super::control;
use crate::config::Console;
use anyhow::{Context, Result};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;

/// Starts the console's listener thread.
pub fn spawn(
    cfg: &Console,
    control: Arc<control::Server>,
    stop: Arc<AtomicBool>,
) -> Result<JoinHandle<()>> {
    let addr = cfg.listen.context("console.listen is none")?;
    let access = match &cfg.token_file {
        Some(path) => Some(guard::read_token(path)?),
        None => None,
    };
    let guard = guard::Guard::new(addr, access)?;
    let listener =
        std::net::TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    listener.set_nonblocking(true)?;
    let api = api::Api::new(control, guard);
    tracing::info!(%addr, "web console listening");
    Ok(std::thread::Builder::new()
        .name("dp-console".into())
        .spawn(move || server::run(listener, Arc::new(api), stop))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpStream};
    use std::sync::atomic::Ordering::Relaxed;
    use std::time::Duration;

    fn free_port() -> SocketAddr {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    }

    /// (status line, the rest).
    fn get(addr: SocketAddr, target: &str, extra: &str) -> (String, String) {
        let start = std::time::Instant::now();
        let mut c = loop {
            match TcpStream::connect(addr) {
                Ok(c) => break c,
                Err(_) if start.elapsed() < Duration::from_secs(5) => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(e) => panic!("connect {addr}: {e}"),
            }
        };
        write!(c, "GET {target} HTTP/1.1\r\nHost: {addr}\r\n{extra}\r\n").unwrap();
        let mut s = String::new();
        c.read_to_string(&mut s).unwrap();
        let (status, rest) = s.split_once("\r\n").unwrap();
        (status.to_string(), rest.to_string())
    }

    #[test]
    fn an_access_token_is_asked_for_and_set_as_a_cookie() {
        let d = tempfile::tempdir().unwrap();
        let token = "Zm9vYmFyYmF6cXV4cXV1eA";
        let file = d.path().join("console.token");
        std::fs::write(&file, format!("{token}\n")).unwrap();
        let addr = free_port();
        let cfg = Console {
            listen: Some(addr),
            token_file: Some(file.clone()),
        };
        let (srv, _rx) = control::tests::server(Vec::new());
        let stop = Arc::new(AtomicBool::new(false));
        let t = spawn(&cfg, srv.clone(), stop.clone()).unwrap();

        let (status, _) = get(addr, "/", "");
        assert_eq!(status, "HTTP/1.1 401 Unauthorized");
        let (status, _) = get(addr, "/?token=Zm9vYmFyYmF6cXV4cXV1eB", "");
        assert_eq!(status, "HTTP/1.1 401 Unauthorized");
        let (status, rest) = get(addr, &format!("/?token={token}"), "");
        assert_eq!(status, "HTTP/1.1 303 See Other");
        let cookie =
            format!("Set-Cookie: dp_console={token}; HttpOnly; SameSite=Strict; Path=/\r\n");
        assert!(rest.contains(&cookie), "{rest}");
        assert!(rest.contains("Location: /\r\n"), "{rest}");
        let (status, _) = get(
            addr,
            "/api/state",
            &format!("Cookie: dp_console={token}\r\n"),
        );
        assert_eq!(status, "HTTP/1.1 200 OK");
        let (status, _) = get(
            addr,
            "/api/state",
            &format!("Authorization: Bearer {token}\r\n"),
        );
        assert_eq!(status, "HTTP/1.1 200 OK");
        stop.store(true, Relaxed);
        t.join().unwrap();

        // A token file that is not one good token leaves the console off, saying why.
        std::fs::write(&file, "short\n").unwrap();
        let e = spawn(&cfg, srv, Arc::new(AtomicBool::new(false)))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("console.token_file: "), "{e}");
    }
}
