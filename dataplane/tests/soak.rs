//! The 60 s soak (scripts/soak --secs 60) with this build's binary: long-lived sessions, short
//! HTTP, UDP, a reload every second, a real flapping every 5 s, SYN flood bursts; passes when no
//! session is lost, every reload applies and the appliance's RSS is flat after warm-up (the
//! script's own verdict; docs/testing.md). The script takes the testbed lock itself.
mod common;
use std::process::Command;

#[test]
fn a_minute_of_mixed_traffic_reloads_flaps_and_floods() {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/soak");
    let out = Command::new(script)
        .args(["--secs", "60", "--bin", common::bin()])
        .output()
        .expect("run scripts/soak");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    print!("{stdout}");
    assert!(
        out.status.success(),
        "scripts/soak failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    let verdict = stdout.lines().last().unwrap_or("");
    assert_eq!(verdict, "soak: PASS", "{stdout}");
}
