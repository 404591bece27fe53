//! `wal-dump` on arbitrary bytes: a data directory (`wal/`, `snap/`) is built from the input as
//! `wal_dir` does, and `wal-dump` runs on it in every mode (view, `--raw`, `--verify`,
//! `--stats`; text or JSON by the first byte). It must exit 0 or 1 (2 is bad usage, which the
//! command line here is not), never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let dir = stele_fuzz::tempdir();
    stele_fuzz::write_dir(rest, &dir.path().join("wal"), &dir.path().join("snap"));
    let d = dir.path().to_str().unwrap().to_string();
    let format = if flags & 1 == 1 { "json" } else { "text" };
    for mode in ["", "--raw", "--verify", "--stats"] {
        let mut argv = vec!["wal-dump", "--format", format];
        if !mode.is_empty() {
            argv.push(mode);
        }
        argv.push(&d);
        let code = stele_tools::dump::run(argv, &mut std::io::sink(), &mut std::io::sink(), false);
        assert!(code == 0 || code == 1, "wal-dump {mode} exited {code}");
    }
});
