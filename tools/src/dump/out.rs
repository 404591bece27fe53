//! Output: text or JSON lines, problem and note counting, the exit status, and the progress bar.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Where a mode writes its report; counts problems (which make the exit status 1) and notes.
pub struct Out<'a> {
    w: &'a mut dyn Write,
    /// JSON lines instead of text.
    pub json: bool,
    /// Problems reported.
    pub problems: u64,
    /// Notes reported.
    pub notes: u64,
    /// Entries printed.
    pub entries: u64,
    error: Option<io::Error>,
}

impl<'a> Out<'a> {
    /// Output to `w`.
    pub fn new(w: &'a mut dyn Write, json: bool) -> Self {
        Out {
            w,
            json,
            problems: 0,
            notes: 0,
            entries: 0,
            error: None,
        }
    }

    /// False once writing failed (a closed pipe): the caller stops.
    pub fn alive(&self) -> bool {
        self.error.is_none()
    }

    /// Writes one line.
    pub fn line(&mut self, s: impl AsRef<str>) {
        if self.error.is_none() {
            if let Err(e) = writeln!(self.w, "{}", s.as_ref()) {
                self.error = Some(e);
            }
        }
    }

    /// Writes one JSON object as a line.
    pub fn obj(&mut self, v: Value) {
        self.line(v.to_string());
    }

    /// Writes a text line (nothing in JSON mode).
    pub fn text(&mut self, s: impl AsRef<str>) {
        if !self.json {
            self.line(s);
        }
    }

    /// Reports a problem: damage or an inconsistency, at `offset` of `file` if there is one.
    pub fn problem(&mut self, file: &str, offset: Option<u64>, message: &str) {
        self.problems += 1;
        if self.json {
            let v = json!({"kind": "problem", "file": file, "offset": offset, "message": message});
            self.obj(v);
        } else if let Some(o) = offset {
            self.line(format!("problem: {file} at offset {o}: {message}"));
        } else {
            self.line(format!("problem: {file}: {message}"));
        }
    }

    /// Reports something unusual that is not damage.
    pub fn note(&mut self, file: &str, message: &str) {
        self.notes += 1;
        if self.json {
            self.obj(json!({"kind": "note", "file": file, "message": message}));
        } else {
            self.line(format!("note: {file}: {message}"));
        }
    }

    /// Writes the summary (JSON: the last line), flushes, tells stderr about problems, and
    /// returns the exit status: 0 all good, 1 problems found or output failed.
    pub fn finish(mut self, mode: &str, err: &mut dyn Write) -> i32 {
        if self.json {
            let v = json!({
                "kind": "summary",
                "mode": mode,
                "entries": self.entries,
                "problems": self.problems,
                "notes": self.notes,
            });
            self.obj(v);
        }
        if self.error.is_none() {
            self.error = self.w.flush().err();
        }
        match self.error {
            Some(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
            Some(e) => {
                let _ = writeln!(err, "wal-dump: cannot write the output: {e}");
                return 1;
            }
            None => {}
        }
        if self.problems > 0 {
            let _ = writeln!(
                err,
                "wal-dump: {} problem{} found",
                self.problems,
                plural(self.problems)
            );
            return 1;
        }
        0
    }
}

/// "s" unless `n` is 1.
pub fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// A progress bar on stderr, drawn only when stderr is a terminal and there is a lot to read.
pub struct Progress<'a> {
    w: Option<&'a mut dyn Write>,
    total: u64,
    /// When reading started; the bar waits `delay` before it shows, so quick runs never flicker.
    start: Option<Instant>,
    delay: Duration,
    last: Option<Instant>,
    drawn: bool,
}

/// Directories smaller than this get no bar.
const MIN_TOTAL: u64 = 64 << 20;

impl<'a> Progress<'a> {
    /// A bar on `w` if `tty` (stderr is a terminal); it shows only once a total of at least
    /// 64 MiB is set.
    pub fn new(w: &'a mut dyn Write, tty: bool) -> Self {
        Progress {
            w: tty.then_some(w),
            total: 0,
            start: None,
            delay: Duration::from_millis(300),
            last: None,
            drawn: false,
        }
    }

    /// Sets the number of bytes to read.
    pub fn set_total(&mut self, total: u64) {
        self.total = total;
    }

    /// `done` bytes of the total are read.
    pub fn set(&mut self, done: u64) {
        let Some(w) = self.w.as_mut() else { return };
        if self.total < MIN_TOTAL {
            return;
        }
        let now = Instant::now();
        if now - *self.start.get_or_insert(now) < self.delay {
            return;
        }
        if self
            .last
            .is_some_and(|t| now - t < Duration::from_millis(100))
        {
            return;
        }
        self.last = Some(now);
        let done = done.min(self.total);
        let width = 30u64;
        let filled = (done * width / self.total) as usize;
        let bar = format!(
            "{}{}",
            "#".repeat(filled),
            ".".repeat(width as usize - filled)
        );
        let mib = |b: u64| b as f64 / (1 << 20) as f64;
        let _ = write!(
            w,
            "\r[{bar}] {:>3}%  {:.0} of {:.0} MiB",
            done * 100 / self.total,
            mib(done),
            mib(self.total)
        );
        let _ = w.flush();
        self.drawn = true;
    }

    /// Clears the bar.
    pub fn finish(&mut self) {
        if let (true, Some(w)) = (self.drawn, self.w.as_mut()) {
            let _ = write!(w, "\r{:60}\r", "");
            let _ = w.flush();
            self.drawn = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_shows_only_on_a_terminal_and_for_large_totals() {
        let mut buf = Vec::new();
        let mut p = Progress::new(&mut buf, true);
        p.delay = Duration::ZERO;
        p.set_total(1 << 30);
        p.set(1 << 29);
        p.finish();
        let s = String::from_utf8(buf).unwrap();
        assert!(s.contains(" 50%  512 of 1024 MiB"), "{s:?}");
        assert!(s.ends_with('\r'), "the bar is cleared: {s:?}");

        for (tty, total) in [(false, 1u64 << 30), (true, 1 << 20)] {
            let mut buf = Vec::new();
            let mut p = Progress::new(&mut buf, tty);
            p.delay = Duration::ZERO;
            p.set_total(total);
            p.set(total / 2);
            p.finish();
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn problems_make_the_exit_status_1() {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut o = Out::new(&mut out, false);
        o.note("x", "unusual");
        assert_eq!(o.finish("view", &mut err), 0);
        let mut o = Out::new(&mut out, true);
        o.problem("wal/a.wal", Some(64), "bad");
        assert_eq!(o.finish("view", &mut err), 1);
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("note: x: unusual"));
        assert!(out.contains(r#""kind":"problem""#) && out.contains(r#""offset":64"#));
        assert!(String::from_utf8(err).unwrap().contains("1 problem found"));
    }
}
