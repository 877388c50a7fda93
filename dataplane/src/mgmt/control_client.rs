//! Reading one control-socket client's requests with bounds, so a hostile or broken client costs
//! only its own thread and slot: a request line is at most `max_line` bytes (a longer one is
//! refused and the connection closed, since the rest of it cannot be told from the next
//! request), must arrive whole within `request_deadline` of its first byte (a slow client that
//! sends half a request and waits is told so and dropped), and a client that sends nothing for
//! `idle` is dropped. Reads wake every `poll` so a shutdown is not held up by a quiet client.

use std::io::{ErrorKind, Read};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// What the next read from a client gave.
#[derive(Debug, PartialEq)]
pub enum Line {
    /// One request line (without its newline), or what a client sent before closing.
    Request(String),
    /// A complete line that is not UTF-8.
    NotUtf8,
    /// More than `max_line` bytes without a newline: refused, the connection is closed.
    Oversized,
    /// Part of a request, then nothing more within the deadline: the connection is closed.
    Slow,
    /// Nothing at all for `idle`: the connection is closed.
    Idle,
    /// The client closed, or the appliance is stopping.
    End,
}

/// The bounds a reader enforces (the control socket's come from `tunables`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_line: usize,
    pub request_deadline: Duration,
    pub idle: Duration,
    pub poll: Duration,
}

impl Limits {
    /// The control socket's bounds.
    pub fn control() -> Limits {
        use crate::tunables::*;
        Limits {
            max_line: CONTROL_MAX_LINE as usize,
            request_deadline: CONTROL_REQUEST_DEADLINE,
            idle: CONTROL_CLIENT_IDLE,
            poll: CONTROL_POLL,
        }
    }
}

/// Splits a client's byte stream into request lines within `Limits`.
pub struct LineReader {
    conn: UnixStream,
    limits: Limits,
    /// Bytes read and not yet returned (at most `max_line` + one read).
    pending: Vec<u8>,
    /// When the first byte of the request in `pending` arrived.
    started: Option<Instant>,
    closed: bool,
}

impl LineReader {
    pub fn new(conn: UnixStream, limits: Limits) -> std::io::Result<LineReader> {
        conn.set_nonblocking(false)?;
        conn.set_read_timeout(Some(limits.poll))?;
        Ok(LineReader {
            conn,
            limits,
            pending: Vec::new(),
            started: None,
            closed: false,
        })
    }

    /// The next request line, or why there is none.
    pub fn next_line(&mut self, stop: &AtomicBool) -> std::io::Result<Line> {
        let waiting_since = Instant::now();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(line) = self.take_line() {
                return Ok(line);
            }
            if self.closed || stop.load(Relaxed) {
                return Ok(self.at_end());
            }
            match self.started {
                Some(t) if t.elapsed() >= self.limits.request_deadline => return Ok(Line::Slow),
                None if waiting_since.elapsed() >= self.limits.idle => return Ok(Line::Idle),
                _ => {}
            }
            match self.conn.read(&mut chunk) {
                Ok(0) => self.closed = true,
                Ok(n) => {
                    self.started.get_or_insert_with(Instant::now);
                    self.pending.extend_from_slice(&chunk[..n]);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// A complete line from `pending`, or `Oversized` once it cannot be one.
    fn take_line(&mut self) -> Option<Line> {
        let max = self.limits.max_line;
        match self.pending.iter().position(|&b| b == b'\n') {
            Some(i) if i <= max => {
                let rest = self.pending.split_off(i + 1);
                let mut line = std::mem::replace(&mut self.pending, rest);
                line.truncate(i);
                self.started = (!self.pending.is_empty()).then(Instant::now);
                Some(match String::from_utf8(line) {
                    Ok(s) => Line::Request(s),
                    Err(_) => Line::NotUtf8,
                })
            }
            _ if self.pending.len() > max => Some(Line::Oversized),
            _ => None,
        }
    }

    /// At the client's end of stream, what it sent without a final newline still counts (as
    /// `printf '{"cmd":"list"}' | socat` sends it).
    fn at_end(&mut self) -> Line {
        if self.pending.is_empty() || !self.closed {
            return Line::End;
        }
        self.started = None;
        match String::from_utf8(std::mem::take(&mut self.pending)) {
            Ok(s) => Line::Request(s),
            Err(_) => Line::NotUtf8,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn limits() -> Limits {
        Limits {
            max_line: 16,
            request_deadline: Duration::from_millis(300),
            idle: Duration::from_millis(600),
            poll: Duration::from_millis(20),
        }
    }

    fn pair() -> (UnixStream, LineReader) {
        let (a, b) = UnixStream::pair().unwrap();
        (a, LineReader::new(b, limits()).unwrap())
    }

    fn req(s: &str) -> Line {
        Line::Request(s.into())
    }

    #[test]
    fn lines_split_across_and_within_reads() {
        let (mut c, mut r) = pair();
        let stop = AtomicBool::new(false);
        c.write_all(b"{\"a\":1}\n{\"b\"").unwrap();
        assert_eq!(r.next_line(&stop).unwrap(), req("{\"a\":1}"));
        c.write_all(b":2}\n\n").unwrap();
        assert_eq!(r.next_line(&stop).unwrap(), req("{\"b\":2}"));
        assert_eq!(r.next_line(&stop).unwrap(), req(""));
        c.write_all(b"\xff\xfe\n").unwrap();
        assert_eq!(r.next_line(&stop).unwrap(), Line::NotUtf8);
        // The last request without a newline, then the end.
        c.write_all(b"tail").unwrap();
        drop(c);
        assert_eq!(r.next_line(&stop).unwrap(), req("tail"));
        assert_eq!(r.next_line(&stop).unwrap(), Line::End);
    }

    #[test]
    fn a_line_of_exactly_the_cap_passes_one_byte_more_does_not() {
        let (mut c, mut r) = pair();
        let stop = AtomicBool::new(false);
        c.write_all(&[b'x'; 16]).unwrap();
        c.write_all(b"\n").unwrap();
        assert_eq!(r.next_line(&stop).unwrap(), req(&"x".repeat(16)));
        c.write_all(&[b'y'; 17]).unwrap();
        assert_eq!(r.next_line(&stop).unwrap(), Line::Oversized);
        let (mut c, mut r) = pair();
        c.write_all(&[b'z'; 17]).unwrap();
        c.write_all(b"\n").unwrap();
        assert_eq!(r.next_line(&stop).unwrap(), Line::Oversized);
    }

    #[test]
    fn half_a_request_times_out_and_silence_goes_idle() {
        let (mut c, mut r) = pair();
        let stop = AtomicBool::new(false);
        c.write_all(b"{\"cmd\":").unwrap();
        let t = Instant::now();
        assert_eq!(r.next_line(&stop).unwrap(), Line::Slow);
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(300), "{took:?}");
        let (_c, mut r) = pair();
        let t = Instant::now();
        assert_eq!(r.next_line(&stop).unwrap(), Line::Idle);
        assert!(t.elapsed() >= Duration::from_millis(600));
        // A byte a while, under the idle bound each time, still meets the request deadline.
        let (mut c, mut r) = pair();
        let writer = std::thread::spawn(move || {
            for _ in 0..10 {
                if c.write_all(b"x").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        assert_eq!(r.next_line(&stop).unwrap(), Line::Slow);
        writer.join().unwrap();
    }

    #[test]
    fn stop_ends_a_quiet_client() {
        let (_c, mut r) = pair();
        let stop = AtomicBool::new(true);
        assert_eq!(r.next_line(&stop).unwrap(), Line::End);
    }
}
