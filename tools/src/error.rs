//! How the tools report errors: [`Failure`] (what could not be done, with the error that
//! caused it as its source) and [`ErrorChain`], the one printer of an error with its sources.

use std::error::Error;
use std::fmt;

/// What a tool could not do; the error that made it fail, if any, is its
/// [`source`](Error::source) (its `Display` is the `what` alone).
#[derive(Debug)]
pub struct Failure {
    what: String,
    source: Option<Box<dyn Error + Send + Sync + 'static>>,
}

impl Failure {
    /// A failure with no underlying error.
    pub fn new(what: impl Into<String>) -> Failure {
        Failure {
            what: what.into(),
            source: None,
        }
    }

    /// `what` failed because of `source`.
    pub fn because(
        what: impl Into<String>,
        source: impl Into<Box<dyn Error + Send + Sync + 'static>>,
    ) -> Failure {
        Failure {
            what: what.into(),
            source: Some(source.into()),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.what)
    }
}

impl Error for Failure {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

/// The one printer of an error with its sources (`a: b: c`), shared with the library's logs.
pub use stele_raft::ErrorChain;

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn the_chain_prints_every_message_once() {
        let io = io::Error::new(io::ErrorKind::PermissionDenied, "permission denied");
        let e = Failure::because("starting the node", stele_raft::Error::from(io));
        assert_eq!(
            ErrorChain(&e).to_string(),
            "starting the node: i/o failed: permission denied"
        );
        assert_eq!(ErrorChain(&Failure::new("alone")).to_string(), "alone");
    }
}
