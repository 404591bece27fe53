//! Acting on what the background scrubber found (`NodeConfig::scrub`): looked at every tick.
//!
//! Damage found in a sealed segment or snapshot file stops the node with [`Error::Scrub`]
//! (the storage error inside names the file and byte offset), like any storage error, so that
//! the owner sees it (fail-stop) before raft reads the damaged bytes; with
//! `stop_on_damage` off it is only reported, once in the log and in `Status::scrub`, and the
//! node goes on serving what is not damaged.

use super::Driver;
use crate::error::{Error, Result};

impl Driver {
    /// Stops the node if the scrubber found damage and the configuration says to.
    pub(super) fn check_scrub(&mut self) -> Result<()> {
        let Some(scrubber) = &self.scrubber else {
            return Ok(());
        };
        let stop = self.cfg.scrub.as_ref().is_some_and(|c| c.stop_on_damage);
        match scrubber.damage() {
            Some(damage) if stop => Err(Error::Scrub(damage)),
            _ => Ok(()),
        }
    }
}
