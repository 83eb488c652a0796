//! Tracing subscriber set-up: pretty or JSON lines, filtered by `SHOPLAKE_LOG` / `RUST_LOG`.

use std::io::IsTerminal;

use crate::config::LogFormat;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls are ignored (tests start many apps).
pub fn init(format: LogFormat, default_filter: &str) {
    let filter = std::env::var("SHOPLAKE_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|text| EnvFilter::try_new(text).ok())
        .unwrap_or_else(|| EnvFilter::new(default_filter));
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour_wanted());
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}

/// Colour codes only on a terminal, and not when `NO_COLOR` is set to anything (no-color.org):
/// a file, a pipe or journald gets plain text.
fn colour_wanted() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
