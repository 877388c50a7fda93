//! Every config shipped under configs/ passes `dataplane --config FILE --check`, run from the
//! repository root as the scripts run them (the HA pair's key file path is relative to it).
mod common;
use common::*;
use std::path::PathBuf;
use std::process::Command;

#[test]
fn every_shipped_config_checks() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut names: Vec<PathBuf> = std::fs::read_dir(root.join("configs"))
        .expect("configs/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    names.sort();
    // The HA pairs are among them (configs/ha-{nat,dr}-{a,b}.yaml).
    let ha = names
        .iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("ha-"))
        .count();
    assert_eq!(ha, 4, "{names:?}");
    // So are the scale-out appliances (configs/scaleout-{a,b,c}.yaml, scaleout-nat-{a,b}.yaml; docs/scale-out.md).
    let scaleout = names
        .iter()
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("scaleout-")
        })
        .count();
    assert_eq!(scaleout, 5, "{names:?}");
    for cfg in &names {
        let out = Command::new(bin())
            .current_dir(&root)
            .arg("--config")
            .arg(cfg)
            .arg("--check")
            .env_remove("RUST_LOG")
            .output()
            .expect("run dataplane --check");
        assert!(
            out.status.success(),
            "{}: {}",
            cfg.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
