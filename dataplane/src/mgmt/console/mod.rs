//! The web console (docs/console.md): one page, served on loopback by default, that shows what
//! `dataplane ctl list` shows and updates itself every second, with per-worker load and drops
//! and the running config; and that sets weights, drains reals, checks the config file and
//! reloads it. Every read and every change goes through the control socket's request handling
//! (`control::Server::handle`), so the console acts exactly as `ctl` does and a refusal carries
//! the same reason. Its threads are the management side's: bounded (at most `MAX_CLIENTS`
//! requests at once, each on a short-lived thread), never touching a worker.

mod api;
mod guard;
mod http;
mod server;

use super::control;
use crate::config::Console;
use anyhow::{Context, Result};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;

/// Starts the console's listener thread.
pub fn spawn(
    cfg: &Console,
    control: Arc<control::Server>,
    stop: Arc<AtomicBool>,
) -> Result<JoinHandle<()>> {
    let addr = cfg.listen.context("console.listen is none")?;
    let access = match &cfg.token_file {
        Some(path) => Some(guard::read_token(path)?),
        None => None,
    };
    let guard = guard::Guard::new(addr, access)?;
    let listener =
        std::net::TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    listener.set_nonblocking(true)?;
    let api = api::Api::new(control, guard);
    tracing::info!(%addr, "web console listening");
    Ok(std::thread::Builder::new()
        .name("dp-console".into())
        .spawn(move || server::run(listener, Arc::new(api), stop))?)
}
