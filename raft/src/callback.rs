//! [`Callback`]: where the outcome of a proposal or read goes.
//!
//! Invariants:
//! - a callback is called at most once, with the outcome; one dropped without being called
//!   (the node thread stopped, or its command was never taken) is called with
//!   [`Error::Stopped`] on drop, so every waiter hears exactly once;
//! - callbacks run on the node thread: they must hand the outcome on and return, never block.

use std::sync::mpsc::{self, Receiver};

use crate::error::{Error, Result};

type Boxed<T> = Box<dyn FnOnce(Result<T>) + Send>;

/// A one-shot receiver of an outcome.
pub(crate) struct Callback<T>(Option<Boxed<T>>);

impl<T> std::fmt::Debug for Callback<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Callback")
    }
}

impl<T: Send + 'static> Callback<T> {
    /// Calls `f` with the outcome.
    pub fn new(f: impl FnOnce(Result<T>) + Send + 'static) -> Callback<T> {
        Callback(Some(Box::new(f)))
    }

    /// A callback that sends the outcome to the returned receiver.
    pub fn channel() -> (Callback<T>, Receiver<Result<T>>) {
        let (tx, rx) = mpsc::channel();
        // Nobody waiting any more is fine: the outcome is dropped.
        (Callback::new(move |r| drop(tx.send(r))), rx)
    }
}

impl<T> Callback<T> {
    /// Hands over the outcome.
    pub fn call(mut self, outcome: Result<T>) {
        if let Some(f) = self.0.take() {
            f(outcome);
        }
    }
}

impl<T> Drop for Callback<T> {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f(Err(Error::Stopped));
        }
    }
}
