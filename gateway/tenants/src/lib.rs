//! Tenants: who may call what, and how much.
//!
//! - [`key`]: virtual API keys (secrets kept only as SHA-256 digests, model allow-lists as
//!   globs, expiry, disabling).
//! - [`limits`]: per-minute limits on requests, tokens and media, over exact sliding windows.
//! - [`usage`]: what a request used and cost, summed in hourly buckets.
//! - [`store`]: the [`TenantStore`] trait, with [`MemoryStore`] (one node) and [`RedisStore`]
//!   (replicas sharing Redis or Valkey) behind it.
//! - [`gatekeeper`]: the front the gateway drives: resolve a bearer token to a key, admit a
//!   request against the key's and its team's limits and budgets in one store round trip,
//!   settle it afterwards, and keep serving by the configured policy when the store is away.
//! - [`lease`]: quota leases, so replicas sharing a store admit most requests of a limited key
//!   without a round trip and still never grant more than the limit between them.
//!
//! No HTTP types: the gateway maps refusals to statuses and headers.

pub mod gatekeeper;
pub mod key;
pub mod lease;
pub mod limits;
pub mod memory;
pub mod redis_store;
mod settler;
pub mod store;
pub mod usage;

#[cfg(test)]
mod conformance;

pub use gatekeeper::{Gatekeeper, StorePolicy};
pub use key::{KeyRecord, SecretHash};
pub use limits::{Charge, Dimension, Limits};
pub use memory::MemoryStore;
pub use redis_store::RedisStore;
pub use store::{StoreError, TenantStore};
pub use usage::Prices;
