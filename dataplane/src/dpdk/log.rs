//! Routes DPDK's own log into `tracing`, with DPDK's level mapped to tracing's, so the appliance
//! has one log stream. DPDK logs from control-path calls only (probe, configure, start).

use std::ffi::c_char;

/// DPDK log levels (rte_log.h): 1 EMERG .. 8 DEBUG.
fn emit(level: u32, msg: &str) {
    for line in msg.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
        match level {
            0..=4 => tracing::error!(target: "dpdk", "{line}"),
            5 => tracing::warn!(target: "dpdk", "{line}"),
            6 | 7 => tracing::info!(target: "dpdk", "{line}"),
            _ => tracing::debug!(target: "dpdk", "{line}"),
        }
    }
}

extern "C" fn on_log(level: u32, _logtype: u32, msg: *const c_char, len: usize) {
    if msg.is_null() {
        return;
    }
    // SAFETY: the shim passes the buffer and length fwrite was given; valid for this call.
    let bytes = unsafe { std::slice::from_raw_parts(msg.cast::<u8>(), len) };
    emit(level, &String::from_utf8_lossy(bytes));
}

/// Installs the bridge. Call before EAL init so its start-up messages are captured.
pub fn install() {
    // SAFETY: registers a callback with the signature the shim expects; it lives for the process.
    let rc = unsafe { dpdk_sys::shim_rte_log_to_callback(Some(on_log)) };
    if rc != 0 {
        tracing::warn!("could not route DPDK's log into tracing; it goes to stderr");
    }
}

/// The DPDK `--log-level` matching a tracing level, so DPDK is no chattier than we are.
/// DPDK's INFO is very verbose at start-up, so tracing's info maps to DPDK's NOTICE.
pub fn eal_level(filter: &str) -> &'static str {
    let f = filter.to_ascii_lowercase();
    if f.contains("trace") {
        "debug"
    } else if f.contains("debug") {
        "info"
    } else if f.contains("info") {
        "notice"
    } else if f.contains("warn") {
        "warning"
    } else {
        "error"
    }
}
