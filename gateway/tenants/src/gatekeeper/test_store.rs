//! A store for the gatekeeper's tests: process memory that can be switched off and counts the
//! admissions it is asked for.

#![allow(clippy::unwrap_used, reason = "tests")]

use super::*;
use crate::key::KeySource;
use crate::usage::UsageBucket;
use async_trait::async_trait;

/// A [`MemoryStore`] that answers `Unavailable` while `down` is set, and counts admissions.
#[derive(Default)]
pub(super) struct SwitchableStore {
    inner: MemoryStore,
    /// Set: every call answers `Unavailable`.
    pub(super) down: AtomicBool,
    /// Admissions asked of it (a remote store's round trips).
    pub(super) admits: AtomicU64,
}

impl SwitchableStore {
    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable("switched off".into()))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl TenantStore for SwitchableStore {
    fn name(&self) -> &'static str {
        "switchable"
    }
    async fn admit(&self, admission: &Admission) -> Result<Verdict, StoreError> {
        self.check()?;
        self.admits.fetch_add(1, Ordering::SeqCst);
        self.inner.admit(admission).await
    }
    async fn settle(&self, settlement: &Settlement) -> Result<(), StoreError> {
        self.check()?;
        self.inner.settle(settlement).await
    }
    async fn reconcile(&self, spend: &[Spend], records: &[UsageRecord]) -> Result<(), StoreError> {
        self.check()?;
        self.inner.reconcile(spend, records).await
    }
    async fn usage(
        &self,
        key: Option<&str>,
        from: u64,
        to: u64,
    ) -> Result<Vec<UsageBucket>, StoreError> {
        self.check()?;
        self.inner.usage(key, from, to).await
    }
    async fn put_key(&self, record: &KeyRecord) -> Result<(), StoreError> {
        self.check()?;
        self.inner.put_key(record).await
    }
    async fn key_by_hash(&self, hash: &SecretHash) -> Result<Option<KeyRecord>, StoreError> {
        self.check()?;
        self.inner.key_by_hash(hash).await
    }
    async fn key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.check()?;
        self.inner.key(id).await
    }
    async fn keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.check()?;
        self.inner.keys().await
    }
    async fn delete_key(&self, id: &str) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.delete_key(id).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.check()
    }
}

/// A config key with `limits`.
pub(super) fn key(id: &str, secret: &str, team: Option<&str>, limits: Limits) -> KeyRecord {
    KeyRecord {
        id: id.into(),
        name: id.into(),
        team: team.map(str::to_owned),
        models: Vec::new(),
        limits,
        budget: None,
        metadata: Default::default(),
        expires_at: None,
        disabled: false,
        secret_hash: SecretHash::of(secret),
        secret_hint: String::new(),
        created_at: 0,
        source: KeySource::Config,
    }
}
