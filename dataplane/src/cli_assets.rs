//! Man pages and shell completions generated from the clap CLI, so they never drift from
//! `--help`. `dataplane generate-assets DIR` (hidden; scripts/package calls it) writes
//! DIR/man/dataplane.1, one dataplane-SUB.1 per subcommand (as git does), and
//! DIR/completions/{dataplane.bash,_dataplane,dataplane.fish}.

use anyhow::{Context, Result};
use clap_complete::Shell;
use std::path::Path;

/// The operator-facing part of the man page: where the rest of the documentation lives.
const SEE_ALSO: &str = "The configuration keys: /usr/share/doc/dataplane/config.md. \
Running it (systemd unit, live capture with dpdk-dumpcap, DPDK tools): \
/usr/share/doc/dataplane/operations.md. Default config: /etc/dataplane/dataplane.yaml.";

pub fn write(cmd: clap::Command, dir: &Path) -> Result<()> {
    let mut cmd = cmd.after_long_help(SEE_ALSO);
    cmd.build();
    let man = dir.join("man");
    std::fs::create_dir_all(&man).with_context(|| format!("cannot create {}", man.display()))?;
    write_man(&cmd, "dataplane", &man)?;
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        // clap keeps names as &'static str; this one-shot generator leaks a few bytes per page.
        let name: &'static str = Box::leak(format!("dataplane-{}", sub.get_name()).into());
        write_man(&sub.clone().name(name), name, &man)?;
    }
    let comp = dir.join("completions");
    std::fs::create_dir_all(&comp).with_context(|| format!("cannot create {}", comp.display()))?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut cmd.clone(), "dataplane", &comp)
            .with_context(|| format!("cannot write {shell} completions"))?;
    }
    Ok(())
}

fn write_man(cmd: &clap::Command, name: &str, dir: &Path) -> Result<()> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut buf)?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, buf).with_context(|| format!("cannot write {}", path.display()))
}
