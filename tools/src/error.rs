//! How the tools report errors: [`Failure`] (what could not be done, with the error that
//! caused it as its source) and [`Chain`], the one printer of an error with its sources.

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

/// Displays an error and its sources, walking [`Error::source`]: `a: b: c`.
///
/// Some errors outside this workspace's control also print their source in their own message;
/// a source whose text already ends what was printed is skipped, so each message shows once.
#[derive(Debug, Clone, Copy)]
pub struct Chain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut printed = self.0.to_string();
        let mut next = self.0.source();
        while let Some(e) = next {
            let text = e.to_string();
            if !printed.ends_with(&text) {
                printed.push_str(": ");
                printed.push_str(&text);
            }
            next = e.source();
        }
        f.write_str(&printed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn the_chain_prints_every_message_once() {
        let io = io::Error::new(io::ErrorKind::PermissionDenied, "permission denied");
        let e = Failure::because("starting the node", stele_raft::Error::from(io));
        assert_eq!(
            Chain(&e).to_string(),
            "starting the node: i/o failed: permission denied"
        );
        assert_eq!(Chain(&Failure::new("alone")).to_string(), "alone");
    }

    /// An error that prints its source itself (as some outside this workspace do).
    #[derive(Debug)]
    struct Echo(io::Error);

    impl fmt::Display for Echo {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "open /x: {}", self.0)
        }
    }

    impl Error for Echo {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_source_already_in_the_message_is_not_repeated() {
        let e = Failure::because("opening data", Echo(io::Error::other("no space")));
        assert_eq!(Chain(&e).to_string(), "opening data: open /x: no space");
    }
}
