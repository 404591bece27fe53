//! The WAL demonstration: write, crash, replay.
//!
//! `cargo run --release --example wal_demo [DIR]` starts a writer process that appends synced
//! batches of raft entries (with a HardState) to a WAL in DIR (default `stele-data/wal-demo`),
//! kills it with SIGKILL mid-stream, reopens the directory, checks that every entry the writer
//! acknowledged is there and intact, and prints what recovery found. Run it again: the log
//! carries on from where the last run stopped.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use stele::wal::{Batch, HardState, Wal, WalOptions};

fn opts() -> WalOptions {
    WalOptions {
        segment_size: 4 << 20,
        ..WalOptions::default()
    }
}

fn payload(index: u64) -> Vec<u8> {
    format!(
        "{{\"op\":\"put\",\"key\":\"k{index}\",\"value\":\"{}\"}}",
        "v".repeat((index % 97) as usize)
    )
    .into_bytes()
}

/// The writer: appends synced batches until killed, printing each acknowledged index.
fn writer(dir: PathBuf) -> Result<(), Box<dyn std::error::Error>> {
    let wal = Wal::open(&dir, opts())?;
    let term = wal.state()?.hard_state.map_or(1, |h| h.term + 1);
    let mut next = wal.last_index()? + 1;
    let mut out = std::io::stdout().lock();
    loop {
        let mut batch = Batch::new();
        for i in next..next + 8 {
            batch.add_entry(i, term, &payload(i))?;
        }
        batch.set_hard_state(HardState {
            term,
            vote: 1,
            commit: next - 1,
        });
        wal.append(batch, true)?;
        next += 8;
        writeln!(out, "{}", next - 1)?;
        out.flush()?;
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let first = args.next();
    if first.as_deref() == Some("--writer") {
        return writer(PathBuf::from(
            args.next().ok_or("--writer needs a directory")?,
        ));
    }
    let dir = PathBuf::from(first.unwrap_or_else(|| "stele-data/wal-demo".into()));
    println!("stele WAL demo, data in {}", dir.display());

    let mut child = Command::new(std::env::current_exe()?)
        .arg("--writer")
        .arg(&dir)
        .stdout(Stdio::piped())
        .spawn()?;
    let lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if let Ok(n) = line.parse::<u64>() {
                let _ = tx.send(n);
            }
        }
    });
    let first_ack = rx.recv_timeout(Duration::from_secs(30))?;
    std::thread::sleep(Duration::from_millis(400));
    child.kill()?; // SIGKILL: no chance to flush or close anything
    child.wait()?;
    reader.join().map_err(|_| "reader thread panicked")?;
    let acked = rx.try_iter().fold(first_ack, u64::max);
    println!(
        "writer (pid {}) killed with SIGKILL; last acknowledged index {acked}",
        child.id()
    );

    let wal = Wal::open(&dir, opts())?;
    let r = wal.recovery();
    println!(
        "reopened in {:.1?}: {} segment(s), {} sealed (read from their seals), {} KiB of the active one scanned",
        r.elapsed,
        r.segments,
        r.sealed,
        r.scanned_bytes / 1024
    );
    match &r.torn_tail {
        Some((path, offset)) => println!(
            "torn last batch truncated: {} at offset {offset}",
            path.display()
        ),
        None => println!("no torn batch at the tail"),
    }
    let (first, last) = (wal.first_index()?, wal.last_index()?);
    let hs = wal.state()?.hard_state.unwrap_or_default();
    println!(
        "log holds entries {first}..={last}; hard state term {} commit {}",
        hs.term, hs.commit
    );
    let mut checked = 0u64;
    for entry in wal.replay(first)? {
        let entry = entry?;
        if entry.data != payload(entry.index) {
            return Err(format!("entry {} is not what was written", entry.index).into());
        }
        checked += 1;
    }
    if last < acked {
        return Err(format!("acknowledged index {acked} is missing (log ends at {last})").into());
    }
    println!(
        "all {checked} entries replayed intact; every acknowledged entry (up to {acked}) survived"
    );
    Ok(())
}
