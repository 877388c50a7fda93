//! The console's listener: accepts on a non-blocking socket, serves each connection (one
//! request, then closed) on its own short-lived thread, at most `MAX_CLIENTS` at once; the rest
//! get 503 at once. However many tabs are open, the cost is these threads' reads of the shared
//! state, never a worker's time.

use super::api::Api;
use super::http::{read_request, write_response, Response};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// How often the thread looks at its stop flag when idle.
const POLL: Duration = Duration::from_millis(50);
/// Requests served at once.
pub const MAX_CLIENTS: usize = 8;
/// A client slower than this to send its request or take the answer is dropped.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

pub fn run(listener: TcpListener, api: Arc<Api>, stop: Arc<AtomicBool>) {
    let busy = Arc::new(AtomicUsize::new(0));
    while !stop.load(Relaxed) {
        api.sample();
        match listener.accept() {
            Ok((conn, _)) => {
                if busy.load(Relaxed) >= MAX_CLIENTS {
                    refuse(conn);
                    continue;
                }
                busy.fetch_add(1, Relaxed);
                let (api2, busy2) = (api.clone(), busy.clone());
                let spawned = std::thread::Builder::new()
                    .name("dp-console-client".into())
                    .spawn(move || {
                        if let Err(e) = serve(conn, &api2) {
                            tracing::debug!("console client: {e}");
                        }
                        busy2.fetch_sub(1, Relaxed);
                    });
                if spawned.is_err() {
                    busy.fetch_sub(1, Relaxed);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(POLL),
            Err(e) => {
                tracing::warn!("console accept: {e}");
                std::thread::sleep(POLL);
            }
        }
    }
}

/// Answers 503 on the accept thread (bounded to a few hundred ms). The request is read first:
/// closing a socket with unread data resets it, and the client would see no answer.
fn refuse(mut conn: TcpStream) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_millis(100)));
    let _ = conn.set_write_timeout(Some(Duration::from_millis(200)));
    let mut head = [0u8; 16 * 1024];
    let _ = std::io::Read::read(&mut conn, &mut head);
    let r = Response::text(503, "too many console clients").with("Retry-After", "1");
    let _ = write_response(&mut conn, &r);
    let _ = conn.shutdown(std::net::Shutdown::Write);
}

fn serve(mut conn: TcpStream, api: &Api) -> std::io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    conn.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let resp = match read_request(&mut conn) {
        Ok(req) => api.route(&req),
        Err(resp) => resp,
    };
    write_response(&mut conn, &resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mgmt::console::guard::Guard;
    use std::io::{Read, Write};

    fn get(addr: std::net::SocketAddr, path: &str) -> String {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(c, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
        let mut s = String::new();
        c.read_to_string(&mut s).unwrap();
        s
    }

    #[test]
    fn serves_over_tcp_and_bounds_its_clients() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let addr = l.local_addr().unwrap();
        let (srv, _rx) = crate::mgmt::control::tests::server(Vec::new());
        let api = Arc::new(Api::new(srv, Guard::new(addr, None).unwrap()));
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let t = std::thread::spawn(move || run(l, api, s2));

        let page = get(addr, "/");
        assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
        assert!(page.contains("<title>dataplane console</title>"));
        let state = get(addr, "/api/state");
        let body = state.split_once("\r\n\r\n").unwrap().1;
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["list"]["services"][0]["name"], "web");

        // Clients that connect and send nothing hold their slots (until their 5 s timeout);
        // past MAX_CLIENTS the next is turned away at once.
        let idle: Vec<TcpStream> = (0..MAX_CLIENTS)
            .map(|_| TcpStream::connect(addr).unwrap())
            .collect();
        std::thread::sleep(Duration::from_millis(500));
        let refused = get(addr, "/");
        assert!(
            refused.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{refused}"
        );
        drop(idle);
        // The slots come back once those clients are gone.
        let start = std::time::Instant::now();
        while !get(addr, "/").starts_with("HTTP/1.1 200") {
            assert!(start.elapsed() < Duration::from_secs(10), "slots not freed");
            std::thread::sleep(Duration::from_millis(50));
        }
        stop.store(true, Relaxed);
        t.join().unwrap();
    }
}
