//! Generates bindings for the system DPDK and compiles the C shim for its static-inline functions.
//! A missing libdpdk or libclang fails the build with the Debian package to install.

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rerun-if-changed=shim.h");
    println!("cargo:rerun-if-changed=shim.c");

    let lib = match pkg_config::Config::new()
        .atleast_version("21.11")
        .cargo_metadata(true)
        .probe("libdpdk")
    {
        Ok(lib) => lib,
        Err(e) => {
            eprintln!(
                "error: DPDK development files not found through pkg-config (libdpdk): {e}\n\
                 hint: install them with `apt-get install libdpdk-dev pkg-config` (or run scripts/setup)"
            );
            std::process::exit(1);
        }
    };

    // pkg-config's cflags carry `-include rte_config.h` and `-march=...`, which both the shim and
    // bindgen need so that struct layouts match the installed libraries.
    let cflags = std::process::Command::new("pkg-config")
        .args(["--cflags", "libdpdk"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default();
    let extra: Vec<String> = cflags
        .split_whitespace()
        .filter(|f| !f.starts_with("-I"))
        .map(str::to_string)
        .collect();

    let mut cc = cc::Build::new();
    cc.file("shim.c").opt_level(3).warnings(false);
    for inc in &lib.include_paths {
        cc.include(inc);
    }
    let mut i = 0;
    while i < extra.len() {
        if extra[i] == "-include" && i + 1 < extra.len() {
            cc.flag("-include").flag(&extra[i + 1]);
            i += 2;
            continue;
        }
        cc.flag(&extra[i]);
        i += 1;
    }
    cc.compile("dpdk_shim");

    check_libclang();

    let mut builder = bindgen::Builder::default()
        .header("wrapper.h")
        .clang_arg("-I.")
        .allowlist_function("rte_.*")
        .allowlist_function("shim_.*")
        .allowlist_type("rte_.*")
        .allowlist_var("RTE_.*")
        .allowlist_var("rte_.*")
        .allowlist_var("shim_.*")
        .blocklist_function("rte_.*_fp_ops")
        .opaque_type("rte_l2tpv2_combined_msg_hdr")
        .opaque_type("rte_arp_ipv4")
        .opaque_type("rte_arp_hdr")
        .derive_default(true)
        .derive_debug(false)
        .layout_tests(true)
        .generate_comments(false)
        .prepend_enum_name(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()));
    for inc in &lib.include_paths {
        builder = builder.clang_arg(format!("-I{}", inc.display()));
    }
    for f in &extra {
        builder = builder.clang_arg(f.clone());
    }
    let bindings = match builder.generate() {
        Ok(b) => b,
        Err(e) => {
            eprintln!(
                "error: bindgen could not generate the DPDK bindings: {e}\n\
                 hint: bindgen needs libclang: `apt-get install libclang-dev` (or run scripts/setup)"
            );
            std::process::exit(1);
        }
    };
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("bindings.rs");
    bindings.write_to_file(out).expect("write bindings");
}

/// bindgen loads libclang at run time and panics with a generic message when it is missing;
/// check first so the error names the package.
fn check_libclang() {
    let mut dirs: Vec<String> = env::var("LIBCLANG_PATH").into_iter().collect();
    dirs.extend([
        "/usr/lib/x86_64-linux-gnu".into(),
        "/usr/lib/aarch64-linux-gnu".into(),
    ]);
    if let Ok(rd) = std::fs::read_dir("/usr/lib") {
        dirs.extend(
            rd.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("llvm-"))
                .map(|e| format!("{}/lib", e.path().display())),
        );
    }
    let found = dirs.iter().any(|d| {
        std::fs::read_dir(d)
            .map(|rd| {
                rd.flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with("libclang"))
            })
            .unwrap_or(false)
    });
    if !found {
        eprintln!(
            "error: libclang not found; bindgen needs it to generate the DPDK bindings\n\
             hint: `apt-get install libclang-dev` (or run scripts/setup)"
        );
        std::process::exit(1);
    }
}
