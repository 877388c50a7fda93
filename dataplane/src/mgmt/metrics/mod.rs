//! The Prometheus endpoint: its own thread on a std TcpListener (loopback by default) answering
//! `GET /metrics` with the text exposition (exposition.rs, encoded by prometheus-client).
//! Requests are parsed by `httparse`. One client at a time with short timeouts, so a slow or
//! idle client costs no thread and at most `tunables::METRICS_CLIENT_TIMEOUT` of others' wait;
//! the workers are never involved (docs/decisions.md says why this is not tiny_http).

pub(crate) mod exposition;
mod parse;
pub mod reference;

pub use exposition::{render, MGMT_FAMILY};
pub use parse::{parse, promtool_check, sum, Sample};

use super::control::Sources;
use crate::tunables::{METRICS_CLIENT_TIMEOUT, METRICS_MAX_REQUEST, METRICS_POLL};
use anyhow::{Context, Result};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;

pub fn spawn(
    addr: SocketAddr,
    sources: Arc<Sources>,
    stop: Arc<AtomicBool>,
) -> Result<JoinHandle<()>> {
    let l = TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    l.set_nonblocking(true)?;
    tracing::info!(%addr, "metrics endpoint listening");
    Ok(std::thread::Builder::new()
        .name("dp-metrics".into())
        .spawn(move || {
            while !stop.load(Relaxed) {
                match l.accept() {
                    Ok((c, _)) => {
                        if let Err(e) = serve(c, &sources) {
                            tracing::debug!("metrics client: {e}");
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(METRICS_POLL)
                    }
                    Err(e) => {
                        tracing::warn!("metrics accept: {e}");
                        std::thread::sleep(METRICS_POLL);
                    }
                }
            }
        })?)
}

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Metrics,
    NotFound,
    MethodNotAllowed,
    BadRequest,
}

/// Reads one request head (up to `METRICS_MAX_REQUEST` bytes) and decides the answer.
fn route(head: &[u8]) -> Option<Route> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return None,
        Err(_) => return Some(Route::BadRequest),
    }
    let path = req.path.unwrap_or("");
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    Some(match (req.method, path) {
        (Some("GET"), "/metrics") => Route::Metrics,
        (Some("GET"), _) => Route::NotFound,
        _ => Route::MethodNotAllowed,
    })
}

fn serve(mut c: TcpStream, src: &Arc<Sources>) -> std::io::Result<()> {
    c.set_nonblocking(false)?;
    c.set_read_timeout(Some(METRICS_CLIENT_TIMEOUT))?;
    c.set_write_timeout(Some(METRICS_CLIENT_TIMEOUT))?;
    let mut buf = vec![0u8; METRICS_MAX_REQUEST];
    let mut n = 0;
    let route = loop {
        if n == buf.len() {
            break Route::BadRequest;
        }
        let got = c.read(&mut buf[n..])?;
        if got == 0 {
            break Route::BadRequest;
        }
        n += got;
        if let Some(r) = route(&buf[..n]) {
            break r;
        }
    };
    let (status, ctype, body) = match route {
        Route::Metrics => (
            "200 OK",
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            render(src),
        ),
        Route::NotFound => (
            "404 Not Found",
            "text/plain",
            "not found: try /metrics\n".into(),
        ),
        Route::MethodNotAllowed => ("405 Method Not Allowed", "text/plain", "only GET\n".into()),
        Route::BadRequest => ("400 Bad Request", "text/plain", "bad request\n".into()),
    };
    let head = format!(
        "HTTP/1.0 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    c.write_all(head.as_bytes())?;
    c.write_all(body.as_bytes())?;
    c.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_routed() {
        assert_eq!(
            route(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some(Route::Metrics)
        );
        assert_eq!(
            route(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n"),
            Some(Route::Metrics)
        );
        assert_eq!(route(b"GET / HTTP/1.1\r\n\r\n"), Some(Route::NotFound));
        assert_eq!(
            route(b"POST /metrics HTTP/1.1\r\n\r\n"),
            Some(Route::MethodNotAllowed)
        );
        assert_eq!(route(b"GET /metrics HTTP/1.1\r\nHost"), None, "partial");
        assert_eq!(route(b"\x01\x02 nonsense\r\n\r\n"), Some(Route::BadRequest));
    }

    /// The listener answers over real TCP, also after idle clients (each holds up the next one
    /// for at most the client timeout).
    #[test]
    fn serves_over_tcp_past_idle_clients() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let stop = Arc::new(AtomicBool::new(false));
        let t = spawn(addr, crate::mgmt::control::tests::sources(), stop.clone()).unwrap();
        let idle: Vec<_> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();
        let get = |req: &[u8]| -> String {
            let mut c = TcpStream::connect(addr).unwrap();
            c.write_all(req).unwrap();
            let mut out = String::new();
            c.read_to_string(&mut out).unwrap();
            out
        };
        let resp = get(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        let (head, body) = resp.split_once("\r\n\r\n").unwrap();
        assert_eq!(head.lines().next(), Some("HTTP/1.0 200 OK"));
        assert!(head.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8"));
        let samples = parse(body).unwrap();
        assert!(samples
            .iter()
            .any(|(n, _, _)| n == "dataplane_real_connections_total"));
        let resp = get(b"DELETE /metrics HTTP/1.1\r\n\r\n");
        assert_eq!(resp.lines().next(), Some("HTTP/1.0 405 Method Not Allowed"));
        drop(idle);
        stop.store(true, Relaxed);
        t.join().unwrap();
    }
}
