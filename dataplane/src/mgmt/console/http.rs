//! Just enough HTTP/1.1 for the console: one request per connection (`Connection: close`),
//! headers parsed by `httparse`, a bounded body by Content-Length.

use std::io::{Read, Write};

/// Longest request head accepted.
const MAX_HEAD: usize = 16 * 1024;
/// Longest request body accepted (a config file's text to check).
pub const MAX_BODY: usize = 1024 * 1024;

pub struct Request {
    pub method: String,
    /// The path without the query.
    pub path: String,
    pub query: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A `name=value` pair of the query string (values are not percent-decoded: the console's
    /// only parameter, the access token, is plain ASCII).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// A cookie's value.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "cookie")
            .flat_map(|(_, v)| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }
}

pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            content_type,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn text(status: u16, body: impl Into<String>) -> Response {
        let mut b = body.into();
        b.push('\n');
        Response::new(status, "text/plain; charset=utf-8", b)
    }

    pub fn json(value: &impl serde::Serialize) -> Response {
        match serde_json::to_vec(value) {
            Ok(b) => Response::new(200, "application/json", b),
            Err(e) => Response::text(500, format!("cannot encode: {e}")),
        }
    }

    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        303 => "See Other",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// Reads one request. `Err` carries the response for a malformed one.
pub fn read_request(c: &mut impl Read) -> Result<Request, Response> {
    let mut buf = vec![0u8; MAX_HEAD];
    let mut n = 0;
    loop {
        if n == buf.len() {
            return Err(Response::text(400, "request head too long"));
        }
        let got = c
            .read(&mut buf[n..])
            .map_err(|e| Response::text(400, format!("reading the request: {e}")))?;
        if got == 0 {
            return Err(Response::text(400, "incomplete request"));
        }
        n += got;
        let mut headers = [httparse::EMPTY_HEADER; 48];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf[..n]) {
            Ok(httparse::Status::Partial) => continue,
            Ok(httparse::Status::Complete(head)) => {
                let target = req.path.unwrap_or("/");
                let (path, query) = target.split_once('?').unwrap_or((target, ""));
                let mut r = Request {
                    method: req.method.unwrap_or("").to_string(),
                    path: path.to_string(),
                    query: query.to_string(),
                    headers: req
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_ascii_lowercase(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect(),
                    body: buf[head..n].to_vec(),
                };
                read_body(c, &mut r)?;
                return Ok(r);
            }
            Err(e) => return Err(Response::text(400, format!("malformed request: {e}"))),
        }
    }
}

fn read_body(c: &mut impl Read, r: &mut Request) -> Result<(), Response> {
    if r.header("transfer-encoding").is_some() {
        return Err(Response::text(400, "chunked bodies are not accepted"));
    }
    let len = match r.header("content-length") {
        None => 0,
        Some(v) => v
            .trim()
            .parse::<usize>()
            .map_err(|_| Response::text(400, "bad Content-Length"))?,
    };
    if len > MAX_BODY {
        return Err(Response::text(
            413,
            format!("body longer than {MAX_BODY} bytes"),
        ));
    }
    if r.body.len() > len {
        r.body.truncate(len);
    }
    let have = r.body.len();
    r.body.resize(len, 0);
    c.read_exact(&mut r.body[have..])
        .map_err(|e| Response::text(400, format!("reading the body: {e}")))
}

pub fn write_response(c: &mut impl Write, r: &Response) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\
         Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\n\
         Referrer-Policy: no-referrer\r\n",
        r.status,
        reason(r.status),
        r.content_type,
        r.body.len()
    );
    for (n, v) in &r.headers {
        head.push_str(n);
        head.push_str(": ");
        head.push_str(v);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    c.write_all(head.as_bytes())?;
    c.write_all(&r.body)?;
    c.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_head_query_cookies_and_body() {
        let raw = b"POST /api/ctl?token=abc&x=1 HTTP/1.1\r\nHost: 127.0.0.1:9718\r\n\
                    Cookie: a=1; dp_console=tok\r\nContent-Length: 5\r\n\r\nhello";
        let r = read_request(&mut &raw[..]).map_err(|r| r.status).unwrap();
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/api/ctl"));
        assert_eq!(r.query_param("token"), Some("abc"));
        assert_eq!(r.query_param("y"), None);
        assert_eq!(r.header("host"), Some("127.0.0.1:9718"));
        assert_eq!(r.cookie("dp_console"), Some("tok"));
        assert_eq!(r.body, b"hello");
    }

    #[test]
    fn refuses_malformed_and_oversized() {
        let bad = |raw: &[u8]| read_request(&mut &raw[..]).err().map(|r| r.status);
        assert_eq!(bad(b"GET / HTTP/1.1\r\nHost\r\n\r\n"), Some(400));
        assert_eq!(
            bad(b"GET / HTTP/1.1\r\nHost: x\r\n"),
            Some(400),
            "incomplete"
        );
        assert_eq!(
            bad(b"POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n"),
            Some(413)
        );
        assert_eq!(
            bad(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort"),
            Some(400)
        );
        assert_eq!(
            bad(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Some(400)
        );
        let long = [b'a'; MAX_HEAD + 10];
        assert_eq!(bad(&long), Some(400));
    }

    #[test]
    fn response_head() {
        let mut out = Vec::new();
        let r = Response::text(404, "no").with("Set-Cookie", "a=b");
        write_response(&mut out, &r).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("HTTP/1.1 404 Not Found\r\n"), "{s}");
        assert!(s.contains("\r\nContent-Length: 3\r\n"), "{s}");
        assert!(s.contains("\r\nSet-Cookie: a=b\r\n"), "{s}");
        assert!(s.ends_with("\r\n\r\nno\n"), "{s}");
    }
}
