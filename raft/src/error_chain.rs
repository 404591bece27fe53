//! [`ErrorChain`]: the one printer of an error with its sources, for logs and for the tools.
//!
//! Every error type in this workspace prints only its own message and hands the error that
//! caused it out as its [`source`](Error::source) (the Rust convention), so a message never
//! repeats: printing an error means walking the chain, which this does.

use std::error::Error;
use std::fmt;

/// Displays an error and its sources, walking [`Error::source`]: `a: b: c`.
///
/// Some errors outside this workspace's control also print their source in their own message;
/// a source whose text already ends what was printed is skipped, so each message shows once.
#[derive(Debug, Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for ErrorChain<'_> {
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

    /// An error with a message and a source it does not print (the workspace's way), or one it
    /// prints itself (as some outside errors do).
    #[derive(Debug)]
    struct Wrap(&'static str, io::Error, bool);

    impl fmt::Display for Wrap {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self.2 {
                false => f.write_str(self.0),
                true => write!(f, "{}: {}", self.0, self.1),
            }
        }
    }

    impl Error for Wrap {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.1)
        }
    }

    #[test]
    fn the_chain_prints_every_message_once() {
        let io = io::Error::new(io::ErrorKind::PermissionDenied, "permission denied");
        let e = crate::Error::from(io);
        assert_eq!(ErrorChain(&e).to_string(), "i/o failed: permission denied");
        let e = Wrap("open /x", io::Error::other("no space"), false);
        assert_eq!(ErrorChain(&e).to_string(), "open /x: no space");
        let alone = io::Error::other("alone");
        assert_eq!(ErrorChain(&alone).to_string(), "alone");
    }

    #[test]
    fn a_source_already_in_the_message_is_not_repeated() {
        let e = Wrap("open /x", io::Error::other("no space"), true);
        assert_eq!(ErrorChain(&e).to_string(), "open /x: no space");
    }
}
