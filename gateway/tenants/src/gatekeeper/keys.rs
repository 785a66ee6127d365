//! Who is calling: the config's keys (swapped whole on reload), keys the store holds (cached
//! for `key_cache` so a request rarely waits for a lookup), and the check of a bearer token
//! against them by its digest.

use super::{AuthError, Gatekeeper, Principal, StorePolicy, TeamPolicy};
use crate::key::{Budget, KeyRecord, SecretHash, plausible_token};
use crate::limits::Limits;
use crate::memory::unix_ms;
use crate::store::Scope;
use crate::usage::Prices;
use rustc_hash::FxHashMap;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// A store lookup of a digest, and when it was made (`None`: no such key).
pub(super) type CachedKey = (Instant, Option<Arc<KeyRecord>>);

/// Whose counters, before the [`Scope`] (an allocated name) is needed: a settlement that
/// corrects, releases and spends nothing never makes one.
#[derive(Clone, Copy)]
pub(super) enum ScopeOf<'a> {
    Key(&'a str),
    Team(&'a str),
}

impl ScopeOf<'_> {
    pub(super) fn scope(self) -> Scope {
        match self {
            Self::Key(id) => Scope::key(id),
            Self::Team(name) => Scope::team(name),
        }
    }
}

/// What the config declares.
pub(crate) struct Declared {
    pub(super) keys: FxHashMap<SecretHash, Arc<KeyRecord>>,
    pub(super) teams: HashMap<String, TeamPolicy>,
    pub(super) prices: FxHashMap<String, Prices>,
}

impl Declared {
    /// Whose limits and budget a request of `key` counts against: the key's, then its team's
    /// (when the config declares the team).
    pub(super) fn scopes<'a>(
        &'a self,
        key: &'a KeyRecord,
    ) -> impl Iterator<Item = (ScopeOf<'a>, &'a Limits, Option<&'a Budget>)> {
        let team = key.team.as_deref().and_then(|name| {
            self.teams
                .get(name)
                .map(|policy| (ScopeOf::Team(name), &policy.limits, policy.budget.as_ref()))
        });
        std::iter::once((ScopeOf::Key(&key.id), &key.limits, key.budget.as_ref())).chain(team)
    }

    pub(super) fn new(
        keys: Vec<KeyRecord>,
        teams: HashMap<String, TeamPolicy>,
        prices: HashMap<String, Prices>,
    ) -> Self {
        Self {
            keys: keys
                .into_iter()
                .map(|key| (key.secret_hash.clone(), Arc::new(key)))
                .collect(),
            teams,
            prices: prices.into_iter().collect(),
        }
    }
}

/// Entries kept in the key cache before it is cleared (bounds memory under a flood of forged
/// but plausible tokens).
const MAX_CACHED_KEYS: usize = 100_000;

impl Gatekeeper {
    /// Replaces the config's keys, teams and prices (a reloaded config): requests from here on
    /// see the new ones; those already admitted settle under the old.
    pub fn reload(
        &self,
        config_keys: Vec<KeyRecord>,
        teams: HashMap<String, TeamPolicy>,
        prices: HashMap<String, Prices>,
    ) {
        let declared = Arc::new(Declared::new(config_keys, teams, prices));
        *self
            .declared
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = declared;
    }

    pub(super) fn declared(&self) -> Arc<Declared> {
        Arc::clone(
            &self
                .declared
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// The keys declared in the config, by id.
    pub fn config_keys(&self) -> Vec<Arc<KeyRecord>> {
        let mut keys: Vec<_> = self.declared().keys.values().cloned().collect();
        keys.sort_by(|a, b| a.id.cmp(&b.id));
        keys
    }

    /// Forgets cached store keys (after the admin API changed one on this replica).
    pub fn forget_cached_keys(&self) {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    /// The key whose secret is `token`, if it may be used now.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, AuthError> {
        if !plausible_token(token) {
            return Err(AuthError::Invalid);
        }
        let hash = SecretHash::of(token);
        let key = match self.declared().keys.get(&hash) {
            Some(key) => Some(Arc::clone(key)),
            None => self.stored_key(&hash).await?,
        };
        // The lookup was by digest; compare the digests once more in constant time.
        let key = key
            .filter(|key| key.secret_hash.matches(&hash))
            .ok_or(AuthError::Invalid)?;
        key.usable(unix_ms() / 1000)?;
        Ok(Principal { key })
    }

    async fn stored_key(&self, hash: &SecretHash) -> Result<Option<Arc<KeyRecord>>, AuthError> {
        {
            let cache = self
                .cache
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some((at, key)) = cache.get(hash)
                && at.elapsed() < self.key_cache_ttl
            {
                return Ok(key.clone());
            }
        }
        match self.call(self.store.key_by_hash(hash)).await {
            Ok(key) => {
                let key = key.map(Arc::new);
                let mut cache = self
                    .cache
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if cache.len() >= MAX_CACHED_KEYS {
                    cache.clear();
                }
                cache.insert(hash.clone(), (Instant::now(), key.clone()));
                Ok(key)
            }
            // Without the store an API-made key cannot be checked: a key it cannot see is
            // refused either way, but fail-open still serves the keys it cached.
            Err(_) => {
                let cache = self
                    .cache
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                match (self.policy, cache.get(hash)) {
                    (StorePolicy::FailOpen, Some((_, key))) => Ok(key.clone()),
                    (StorePolicy::FailOpen, None) => Err(AuthError::Invalid),
                    (StorePolicy::FailClosed, _) => Err(AuthError::StoreUnavailable),
                }
            }
        }
    }
}
