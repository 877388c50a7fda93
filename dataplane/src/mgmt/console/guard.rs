//! Who may use the console and how a change must be asked for.
//! - Host: without an access token (loopback), the Host header must name this console by IP
//!   address or `localhost`, so a page on another site whose name was re-pointed at 127.0.0.1
//!   (DNS rebinding) is refused. The port is not compared: an SSH tunnel may forward another
//!   local port to the console's.
//! - Access token (`console.token_file`, required off loopback): every request carries it, as
//!   the cookie set by opening `/?token=...` once, or as `Authorization: Bearer ...`.
//! - Changes: POST only, with the per-process CSRF token (embedded in the page) in
//!   `X-CSRF-Token`, and an Origin, when the browser sends one, equal to the Host.

use super::http::{Request, Response};
use anyhow::{bail, Context, Result};
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

pub const COOKIE: &str = "dp_console";
pub const CSRF_HEADER: &str = "x-csrf-token";

pub struct Guard {
    listen: SocketAddr,
    csrf: String,
    access: Option<String>,
}

/// Reads the access token: one line of at least 16 URL-safe characters.
pub fn read_token(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("console.token_file: cannot read {}", path.display()))?;
    let t = text.trim();
    if t.len() < 16
        || !t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    {
        bail!(
            "console.token_file: {} must hold one token of at least 16 characters of A-Z a-z 0-9 - . _ ~",
            path.display()
        );
    }
    Ok(t.to_string())
}

/// 128 random bits, hex.
fn random_token() -> Result<String> {
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .context("cannot read /dev/urandom for the console's CSRF token")?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Compares without stopping at the first difference (the time says nothing of the token).
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

fn forbidden(why: &str) -> Response {
    Response::text(403, why)
}

impl Guard {
    pub fn new(listen: SocketAddr, access: Option<String>) -> Result<Guard> {
        Ok(Guard {
            listen,
            csrf: random_token()?,
            access,
        })
    }

    pub fn csrf(&self) -> &str {
        &self.csrf
    }

    /// Checks the Host and the access token of every request. `/?token=...` with the right
    /// token answers with the cookie and a redirect to the page.
    pub fn admit(&self, req: &Request) -> Result<(), Response> {
        let Some(token) = &self.access else {
            return self.host_names_us(req);
        };
        if let Some(given) = req.query_param("token") {
            if req.method == "GET" && req.path == "/" && same(given, token) {
                return Err(Response::text(303, "signed in").with("Location", "/").with(
                    "Set-Cookie",
                    format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/"),
                ));
            }
        }
        let bearer = req
            .header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "));
        match req.cookie(COOKIE).or(bearer) {
            Some(t) if same(t, token) => Ok(()),
            _ => Err(Response::text(
                401,
                "this console needs its access token: open /?token=TOKEN once (the token is in \
                 the file console.token_file names), or send Authorization: Bearer TOKEN",
            )),
        }
    }

    fn host_names_us(&self, req: &Request) -> Result<(), Response> {
        let Some(host) = req.header("host") else {
            return Err(forbidden("no Host header"));
        };
        let name = match host.rsplit_once(':') {
            Some((n, p)) if !n.is_empty() && !p.contains(']') => n,
            _ => host,
        };
        let ip = name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>();
        let ours = match ip {
            Ok(ip) => {
                self.listen.ip().is_unspecified()
                    || ip == self.listen.ip()
                    || (ip.is_loopback() && self.listen.ip().is_loopback())
            }
            Err(_) => name.eq_ignore_ascii_case("localhost") && self.listen.ip().is_loopback(),
        };
        if ours {
            Ok(())
        } else {
            Err(forbidden(&format!(
                "Host `{host}` is not this console's address (open it by IP address or localhost)"
            )))
        }
    }

    /// A change: the CSRF token, and no foreign Origin.
    pub fn allow_change(&self, req: &Request) -> Result<(), Response> {
        if req.method != "POST" {
            return Err(Response::text(405, "changes are POST requests"));
        }
        match req.header(CSRF_HEADER) {
            Some(t) if same(t, &self.csrf) => {}
            _ => {
                return Err(forbidden(
                    "missing or wrong CSRF token: reload the page and try again",
                ))
            }
        }
        if let Some(origin) = req.header("origin") {
            let host = req.header("host").unwrap_or("");
            let bare = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"));
            if bare != Some(host) {
                return Err(forbidden(&format!("Origin `{origin}` is not this console")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, path: &str, headers: &[(&str, &str)]) -> Request {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        Request {
            method: method.into(),
            path: path.into(),
            query: query.into(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: Vec::new(),
        }
    }

    fn status(r: Result<(), Response>) -> u16 {
        r.err().map_or(200, |r| r.status)
    }

    #[test]
    fn loopback_console_wants_its_own_host() {
        let g = Guard::new("127.0.0.1:9718".parse().unwrap(), None).unwrap();
        assert_eq!(g.csrf().len(), 32);
        let other = Guard::new("127.0.0.1:9718".parse().unwrap(), None).unwrap();
        assert_ne!(g.csrf(), other.csrf(), "per-process random");
        for (host, want) in [
            ("127.0.0.1:9718", 200),
            ("localhost:9718", 200),
            ("127.0.0.2:9718", 200),
            ("[::1]:9718", 200),
            ("evil.example:9718", 403),
            ("localhost:8000", 200),
            ("127.0.0.1", 200),
            ("[::1]", 200),
            ("evil.example", 403),
            ("198.51.100.1:9718", 403),
        ] {
            assert_eq!(
                status(g.admit(&req("GET", "/", &[("host", host)]))),
                want,
                "{host}"
            );
        }
        assert_eq!(status(g.admit(&req("GET", "/", &[]))), 403);
    }

    #[test]
    fn changes_need_post_csrf_and_same_origin() {
        let g = Guard::new("127.0.0.1:9718".parse().unwrap(), None).unwrap();
        let t = g.csrf().to_string();
        let host = ("host", "127.0.0.1:9718");
        let ok = [host, (CSRF_HEADER, &t), ("origin", "http://127.0.0.1:9718")];
        assert_eq!(status(g.allow_change(&req("POST", "/api/ctl", &ok))), 200);
        assert_eq!(
            status(g.allow_change(&req("GET", "/api/ctl", &ok))),
            405,
            "no change from a GET"
        );
        assert_eq!(
            status(g.allow_change(&req("POST", "/api/ctl", &[host]))),
            403,
            "no token"
        );
        let wrong = "0".repeat(32);
        assert_eq!(
            status(g.allow_change(&req("POST", "/api/ctl", &[host, (CSRF_HEADER, &wrong)]))),
            403
        );
        assert_eq!(
            status(g.allow_change(&req(
                "POST",
                "/api/ctl",
                &[host, (CSRF_HEADER, &t), ("origin", "http://evil.example")]
            ))),
            403,
            "foreign origin"
        );
        assert_eq!(
            status(g.allow_change(&req("POST", "/api/ctl", &[host, (CSRF_HEADER, &t)]))),
            200,
            "a client that sends no Origin (curl)"
        );
    }

    #[test]
    fn access_token_by_cookie_bearer_or_sign_in() {
        let tok = "abcdefghijklmnopqrstuvwx".to_string();
        let g = Guard::new("0.0.0.0:9718".parse().unwrap(), Some(tok.clone())).unwrap();
        let host = ("host", "lb1.example:9718");
        assert_eq!(status(g.admit(&req("GET", "/", &[host]))), 401);
        let cookie = format!("{COOKIE}={tok}");
        assert_eq!(
            status(g.admit(&req("GET", "/api/state", &[host, ("cookie", &cookie)]))),
            200
        );
        let bearer = format!("Bearer {tok}");
        assert_eq!(
            status(g.admit(&req(
                "GET",
                "/api/state",
                &[host, ("authorization", &bearer)]
            ))),
            200
        );
        let bad = format!("{COOKIE}=abcdefghijklmnopqrstuvwy");
        assert_eq!(
            status(g.admit(&req("GET", "/", &[host, ("cookie", &bad)]))),
            401
        );
        let r = g
            .admit(&req("GET", &format!("/?token={tok}"), &[host]))
            .unwrap_err();
        assert_eq!(r.status, 303);
        assert!(r
            .headers
            .iter()
            .any(|(n, v)| *n == "Set-Cookie" && v.starts_with(&cookie)));
        assert_eq!(
            status(g.admit(&req("GET", "/?token=abcdefghijklmnopqrstuvwy", &[host]))),
            401
        );
    }

    #[test]
    fn token_file_format() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t");
        std::fs::write(&p, "abcdefghijklmnop_-.~1234\n").unwrap();
        assert_eq!(read_token(&p).unwrap(), "abcdefghijklmnop_-.~1234");
        std::fs::write(&p, "short\n").unwrap();
        assert!(read_token(&p).is_err());
        std::fs::write(&p, "abcdefghijklmnop qrstuvwx\n").unwrap();
        assert!(read_token(&p).is_err());
        assert!(read_token(&d.path().join("none")).is_err());
    }
}
