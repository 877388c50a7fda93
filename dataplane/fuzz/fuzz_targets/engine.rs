//! Drives the whole engine in process (two workers, two ports, a config with NAT, DR, TUN and
//! a persistent service) over arbitrary records of frames: the engine's own parser
//! (`wire::parse_frame`), classification, the connection table, every rewrite, fragments,
//! handoffs and the ARP wait queue. Panics on any panic inside, and on a lost packet (see
//! `dataplane::worker::engine::fuzz` for the input format).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    dataplane::worker::engine::fuzz::drive(data);
});
