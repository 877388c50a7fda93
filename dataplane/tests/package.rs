//! The Debian package (scripts/package): built around this test's binary, installed into the
//! real system with dpkg, checked as an operator would (the binary, the shipped config, man
//! pages, completions, the systemd units), then purged.
mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn sh(cmd: &str, args: &[&str]) -> Output {
    Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {cmd}: {e}"))
}

fn ok(cmd: &str, args: &[&str]) -> String {
    let out = sh(cmd, args);
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn installed() -> bool {
    let out = sh("dpkg-query", &["-W", "-f=${Status}", "dataplane"]);
    String::from_utf8_lossy(&out.stdout).contains("install ok installed")
}

/// Purges the package when dropped, so a failed check leaves no package behind.
struct Purge;
impl Drop for Purge {
    fn drop(&mut self) {
        let _ = sh("dpkg", &["--purge", "dataplane"]);
    }
}

const FILES: [&str; 9] = [
    "/usr/bin/dataplane",
    "/usr/lib/dataplane/prepare",
    "/lib/systemd/system/dataplane.service",
    "/lib/systemd/system/dataplane@.service",
    "/etc/default/dataplane",
    "/usr/share/bash-completion/completions/dataplane",
    "/usr/share/zsh/vendor-completions/_dataplane",
    "/usr/share/fish/vendor_completions.d/dataplane.fish",
    "/usr/share/doc/dataplane/operations.md",
];

#[test]
fn package_installs_runs_and_purges() {
    // dpkg has one database per machine: checkouts that run this test at once take turns.
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open("/run/dataplane-package-test.lock")
        .expect("open the package test lock");
    lock.lock().expect("lock");
    assert!(
        !installed() || sh("dpkg", &["--purge", "dataplane"]).status.success(),
        "cannot remove a dataplane package installed before the test"
    );

    let d = TestDir::new();
    let out_dir = d.path("deb");
    let built = ok(
        repo().join("scripts/package").to_str().unwrap(),
        &["--binary", bin(), "--out", out_dir.to_str().unwrap()],
    );
    let deb = built.lines().last().expect("the .deb path").to_string();
    assert!(deb.ends_with(".deb") && Path::new(&deb).exists(), "{built}");
    let control = ok(
        "dpkg-deb",
        &["--field", &deb, "Package", "Version", "Depends"],
    );
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        control.lines().collect::<Vec<_>>(),
        [
            "Package: dataplane",
            &format!("Version: {version}"),
            "Depends: dpdk (>= 22.11), iproute2, libc6"
        ]
    );

    let _purge = Purge;
    ok("dpkg", &["-i", &deb]);
    assert!(installed());

    assert_eq!(
        ok("/usr/bin/dataplane", &["--version"]).trim(),
        format!("dataplane {version}")
    );
    // The shipped config is valid, and is what the unit runs.
    let normalised = ok(
        "/usr/bin/dataplane",
        &["check", "--config", "/etc/dataplane/dataplane.yaml"],
    );
    assert!(
        normalised.lines().any(|l| l == "  file_prefix: dataplane"),
        "{normalised}"
    );
    let conffiles = ok("dpkg-query", &["-W", "-f=${Conffiles}", "dataplane"]);
    let names: Vec<&str> = conffiles
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        names,
        ["/etc/dataplane/dataplane.yaml", "/etc/default/dataplane"]
    );

    for f in FILES {
        assert!(Path::new(f).exists(), "{f} not installed");
    }
    for page in [
        "dataplane",
        "dataplane-ctl",
        "dataplane-check",
        "dataplane-replay",
        "dataplane-capture",
    ] {
        assert_eq!(
            ok("man", &["-w", page]).trim(),
            format!("/usr/share/man/man1/{page}.1.gz")
        );
    }
    let page = ok("zcat", &["/usr/share/man/man1/dataplane.1.gz"]);
    assert!(
        page.lines().any(|l| l
            == "Running it (the systemd unit, live capture, DPDK's tools): /usr/share/doc/dataplane/operations.md."),
        "no SEE ALSO pointing at operations.md:\n{page}"
    );
    let bash = std::fs::read_to_string(FILES[5]).unwrap();
    assert!(
        bash.contains("complete -F _dataplane") && bash.contains("--file-prefix"),
        "bash completion: {bash}"
    );

    // systemd accepts both units (the template through an instance).
    ok(
        "systemd-analyze",
        &["verify", "/lib/systemd/system/dataplane.service"],
    );
    ok("systemd-analyze", &["verify", "dataplane@blue.service"]);
    let unit = std::fs::read_to_string(FILES[2]).unwrap();
    for line in [
        "ExecStartPre=/usr/lib/dataplane/prepare",
        "ExecStart=/usr/bin/dataplane --config /etc/dataplane/dataplane.yaml",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "KillSignal=SIGTERM",
        "Restart=on-failure",
    ] {
        assert!(unit.lines().any(|l| l == line), "no `{line}` in the unit");
    }

    // The units' ExecStartPre: on this machine (scripts/setup reserved 512 pages) it changes
    // nothing and leaves hugetlbfs mounted and /dev/net/tun present.
    let prepared = sh("/usr/lib/dataplane/prepare", &[]);
    assert!(prepared.status.success(), "{prepared:?}");
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(
        mounts
            .lines()
            .any(|l| l.split_whitespace().nth(2) == Some("hugetlbfs")),
        "{mounts}"
    );
    assert!(Path::new("/dev/net/tun").exists());

    // Removal keeps the conffiles; purge takes them too.
    ok("dpkg", &["-r", "dataplane"]);
    assert!(!Path::new("/usr/bin/dataplane").exists());
    assert!(Path::new("/etc/dataplane/dataplane.yaml").exists());
    ok("dpkg", &["--purge", "dataplane"]);
    assert!(!Path::new("/etc/dataplane").exists());
    assert!(!Path::new("/lib/systemd/system/dataplane.service").exists());
}
