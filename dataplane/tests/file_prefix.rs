//! The EAL file prefix DPDK's tools attach with: an appliance with hugepages holds its prefix,
//! a second one under the same prefix is refused with the key and the holder's pid, and one
//! without hugepages stays private under the same configured prefix.
mod common;
use common::*;
use std::path::Path;
use std::time::Duration;

fn null_config(hugepages: &str, prefix: &str) -> String {
    format!(
        "eal: {{lcores: \"0-1\", memory_mb: 64, hugepages: {hugepages}, file_prefix: {prefix}}}\n\
         workers: {{cores: [1]}}\n\
         ports:\n  - {{name: a, device: \"net_null0\"}}\n\
         mode: l2fwd\n\
         l2fwd: {{pairs: [[a, a]]}}\n"
    )
}

/// Starts an appliance without the harness's `--file-prefix`: the config's prefix applies.
fn start_with_config_prefix(cfg: &Path, d: &TestDir, tag: &str, prefix: &str) -> Appliance {
    Appliance::spawn(cfg, d, tag, prefix, false)
}

#[test]
fn a_prefix_in_use_is_refused_and_no_huge_stays_private() {
    let d = TestDir::new();
    let prefix = format!("dptest-{}-held", std::process::id());
    // The config's prefix (no --file-prefix): A holds it with hugepages.
    let a_cfg = d.write("a.yaml", &null_config("on", &prefix));
    let mut a = start_with_config_prefix(&a_cfg, &d, "a", &prefix);
    a.wait_for_log("running", Duration::from_secs(30));
    assert!(
        a.stderr()
            .contains(&format!("DPDK tools attach with --file-prefix {prefix}")),
        "{}",
        a.stderr()
    );

    // B, same prefix, with hugepages: refused before EAL starts, naming the key and A.
    let b_cfg = d.write("b.yaml", &null_config("on", &prefix));
    let out = run(
        &["--config", b_cfg.to_str().unwrap()],
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.lines().last(),
        Some(
            format!(
                "error: eal.file_prefix: `{prefix}` is in use by a running DPDK primary (pid {}); \
                 give each instance on this machine its own eal.file_prefix (or --file-prefix)",
                a.pid()
            )
            .as_str()
        ),
        "{stderr}"
    );

    // C, same prefix, without hugepages: private, so it starts and stops cleanly beside A.
    let c_cfg = d.write("c.yaml", &null_config("off", &prefix));
    let mut c = start_with_config_prefix(&c_cfg, &d, "c", &prefix);
    c.wait_for_log("running", Duration::from_secs(30));
    let (code, _, _) = c.stop("TERM", Duration::from_secs(10));
    assert_eq!(code, Some(0), "{}", c.stderr());

    let (code, _, _) = a.stop("TERM", Duration::from_secs(10));
    assert_eq!(code, Some(0), "{}", a.stderr());
    assert!(
        !std::path::Path::new(&format!("/var/run/dpdk/{prefix}")).exists(),
        "A left its runtime directory"
    );
}
