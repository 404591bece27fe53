//! The stderr logger of `stele-kv`: the `log` records of the stele crates (a segment started,
//! a damaged snapshot quarantined, a file the recovery ignored, the WAL poisoned) as one line
//! each, `stele-kv: <level>: <message>`, so an operator sees what the library saw.
//!
//! Installed once, by [`main_with_args`](super::main_with_args) only: embedders and in-process
//! tests keep their own logger.

use log::{LevelFilter, Log, Metadata, Record};

/// Writes records at `level` and above to stderr.
#[derive(Debug)]
struct Stderr;

impl Log for Stderr {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            let level = record.level().as_str().to_ascii_lowercase();
            eprintln!("stele-kv: {level}: {}", record.args());
        }
    }

    fn flush(&self) {}
}

/// Installs the logger at `level` (a second call, or another logger already set, is ignored).
pub fn install(level: LevelFilter) {
    static LOGGER: Stderr = Stderr;
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
    }
}

/// Parses `--log-level` (off, error, warn, info, debug, trace; any case).
pub fn parse_level(s: &str) -> Result<LevelFilter, String> {
    s.parse()
        .map_err(|_| format!("{s:?} is not one of off, error, warn, info, debug, trace"))
}
