//! Logs: human-readable on a terminal, JSON lines otherwise (containers, log shippers).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// The embedded broker (crates `nisshi_*`; a target matches by prefix) logs its internals at info;
/// keep them out unless asked for with RUST_LOG.
const DEFAULT_FILTER: &str = "info,nisshi=warn,libsql=warn";

pub fn init() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if std::io::stdout().is_terminal() {
        builder.init();
    } else {
        builder.json().init();
    }
}
