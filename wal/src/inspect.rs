//! Read-only inspection of a WAL directory for tools (being built): no lock, no writes.
