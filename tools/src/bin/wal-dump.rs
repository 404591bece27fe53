//! `wal-dump`: inspect and verify a stele data directory, read-only (see `stele_tools::dump`).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let stderr = std::io::stderr();
    let tty = stderr.is_terminal();
    let code = stele_tools::dump::run(std::env::args_os(), &mut out, &mut stderr.lock(), tty);
    let _ = out.flush();
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
