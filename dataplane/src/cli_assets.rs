//! Man pages and shell completions generated from the clap CLI, so they never drift from
//! `--help`. `dataplane generate-assets DIR` (hidden; scripts/package calls it) writes
//! DIR/man/dataplane.1, one dataplane-SUB.1 per subcommand (as git does), each with a SEE ALSO
//! section pointing at the installed docs, and
//! DIR/completions/{dataplane.bash,_dataplane,dataplane.fish}.

use anyhow::{Context, Result};
use clap_complete::Shell;
use std::path::Path;

/// Every page's SEE ALSO section (roff): where the rest of the documentation lives.
const SEE_ALSO: &str = ".SH \"SEE ALSO\"\n\
dataplane(1), dataplane\\-ctl(1), dataplane\\-capture(1).\n\
.PP\n\
Every configuration key: /usr/share/doc/dataplane/config.md.\n\
Running it (the systemd unit, live capture, DPDK's tools): /usr/share/doc/dataplane/operations.md.\n\
The default configuration: /etc/dataplane/dataplane.yaml.\n";

pub fn write(cmd: clap::Command, dir: &Path) -> Result<()> {
    // No `help` subcommand: it would be listed as a dataplane-help(1) page that does not exist.
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let man = dir.join("man");
    std::fs::create_dir_all(&man).with_context(|| format!("cannot create {}", man.display()))?;
    write_man(&cmd, "dataplane", &man)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
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
    let mut page = String::from_utf8(buf)?;
    // SEE ALSO goes before VERSION, where man pages keep it.
    match page.find(".SH VERSION") {
        Some(i) => page.insert_str(i, SEE_ALSO),
        None => page.push_str(SEE_ALSO),
    }
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, page).with_context(|| format!("cannot write {}", path.display()))
}
