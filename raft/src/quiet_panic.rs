//! [`catch`]: runs the node loop catching a panic without the panic hook printing it, so a
//! raft panic on a storage error (which the driver reports itself, with file and offset) puts
//! no backtrace on stderr.
//!
//! How, and what an embedder sees: the first call installs, once per process, a panic hook
//! that wraps the hook installed before it. On a thread inside [`catch`] the wrapper only
//! records the panic's message and location (the driver logs them when the panic is not a
//! storage error it can name); on every other thread, and on a node thread outside the loop,
//! it calls the previous hook, so panics elsewhere print exactly as before. An embedder that
//! sets its own hook after starting a node replaces the wrapper: node-thread panics then go to
//! that hook, and nothing else changes.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
    static LAST: RefCell<Option<String>> = const { RefCell::new(None) };
}

static INSTALL: Once = Once::new();

/// Runs `f`; a panic in it is caught and returned as its message and location
/// (`"message, at file:line:col"`), not printed by the panic hook.
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    install();
    let was = QUIET.with(|q| q.replace(true));
    let r = panic::catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    r.map_err(|payload| {
        LAST.with(|l| l.borrow_mut().take())
            .unwrap_or_else(|| message(payload.as_ref()).to_string())
    })
}

fn install() {
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if QUIET.with(|q| q.get()) {
                let at = info
                    .location()
                    .map(|l| format!(", at {}:{}:{}", l.file(), l.line(), l.column()))
                    .unwrap_or_default();
                let text = format!("{}{at}", message(info.payload()));
                LAST.with(|l| *l.borrow_mut() = Some(text));
            } else {
                previous(info)
            }
        }));
    });
}

fn message(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "a panic without a message"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caught_panic_returns_its_message_and_location() {
        let r: Result<(), String> = catch(|| panic!("storage said no"));
        let text = r.unwrap_err();
        assert!(text.starts_with("storage said no, at "), "{text}");
        assert!(text.contains("quiet_panic.rs"), "{text}");
        assert_eq!(catch(|| 7), Ok(7));
        assert!(
            !QUIET.with(|q| q.get()),
            "the thread is loud again after catch"
        );
    }
}
