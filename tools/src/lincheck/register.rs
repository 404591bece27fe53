//! The model of `stele-kv`: one register per key, holding a value or nothing.
//!
//! `put(v)` sets it, `delete` empties it (both answer only "ok"), `get` returns what it holds
//! (`None`: 404). Values are opaque bytes; tests make every written value unique, which is
//! what lets a read name the write it saw.

use super::Model;

/// An operation on one key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KvInput {
    /// `PUT` of this value.
    Put(Vec<u8>),
    /// A linearizable `GET`.
    Get,
    /// `DELETE`.
    Delete,
}

/// What an operation returned.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KvOutput {
    /// A write was acknowledged.
    Ok,
    /// A read returned this (`None`: no such key).
    Value(Option<Vec<u8>>),
}

/// The register-per-key model; keys are strings.
#[derive(Debug, Clone, Copy, Default)]
pub struct KvModel;

impl Model for KvModel {
    type Key = String;
    type State = Option<Vec<u8>>;
    type Input = KvInput;
    type Output = KvOutput;

    fn init(&self) -> Self::State {
        None
    }

    fn step(
        &self,
        state: &Self::State,
        input: &KvInput,
        output: Option<&KvOutput>,
    ) -> Option<Self::State> {
        match (input, output) {
            (KvInput::Put(v), None | Some(KvOutput::Ok)) => Some(Some(v.clone())),
            (KvInput::Delete, None | Some(KvOutput::Ok)) => Some(None),
            (KvInput::Get, None) => Some(state.clone()),
            (KvInput::Get, Some(KvOutput::Value(v))) => (v == state).then(|| state.clone()),
            _ => None,
        }
    }

    fn is_read_only(&self, input: &KvInput) -> bool {
        matches!(input, KvInput::Get)
    }
}
