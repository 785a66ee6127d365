//! Virtual API keys: what a key is allowed (models, limits, budget, expiry) and how its secret is
//! kept. A secret is shown once, when the key is made; from then on only its SHA-256 digest
//! exists, so neither the store, a log nor the admin listing can give it away.

use crate::limits::Limits;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The prefix of every secret this gateway makes, so that a leaked one is recognisable (secret
/// scanners match on it) and a typo'd one is refused without a store lookup.
pub const SECRET_PREFIX: &str = "sk-og-";
/// Longest bearer token looked at; longer ones are refused before hashing.
pub const MAX_TOKEN_LEN: usize = 256;

/// The SHA-256 digest of a key's secret, hex-encoded: how a key is found and stored.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretHash(String);

impl SecretHash {
    /// The digest of `secret`. Hashing first means the lookup that follows compares digests,
    /// not secrets: how long it takes says nothing about how much of a secret was right.
    pub fn of(secret: &str) -> Self {
        let digest = Sha256::digest(secret.as_bytes());
        let mut hex = String::with_capacity(64);
        for byte in digest {
            hex.push(char::from(HEX[usize::from(byte >> 4)]));
            hex.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
        Self(hex)
    }

    /// A digest as stored (64 hex digits).
    pub fn from_hex(hex: &str) -> Option<Self> {
        (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Self(hex.to_ascii_lowercase()))
    }

    /// The hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Equality in constant time (for the last check after a lookup by digest).
    pub fn matches(&self, other: &SecretHash) -> bool {
        constant_time_eq::constant_time_eq(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl std::fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretHash({}…)", &self.0[..8.min(self.0.len())])
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A new secret: the prefix and 40 base-62 characters from the OS's generator (~238 bits).
pub fn new_secret() -> Result<String, getrandom::Error> {
    let mut raw = [0u8; 40];
    getrandom::fill(&mut raw)?;
    let mut secret = String::with_capacity(SECRET_PREFIX.len() + raw.len());
    secret.push_str(SECRET_PREFIX);
    // 256 is not a multiple of 62; the bias this leaves (4 of 62 symbols slightly likelier) costs
    // well under a bit of the 238.
    secret.extend(raw.iter().map(|b| char::from(BASE62[usize::from(*b) % 62])));
    Ok(secret)
}

/// A new key id: `key_` and 16 hex digits.
pub fn new_key_id() -> Result<String, getrandom::Error> {
    let mut raw = [0u8; 8];
    getrandom::fill(&mut raw)?;
    let mut id = String::from("key_");
    for byte in raw {
        id.push(char::from(HEX[usize::from(byte >> 4)]));
        id.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    Ok(id)
}

/// Whether a bearer token is worth hashing and looking up at all: printable ASCII of a sane
/// length. Forged tokens of megabytes or of control bytes stop here, in constant work.
pub fn plausible_token(token: &str) -> bool {
    !token.is_empty() && token.len() <= MAX_TOKEN_LEN && token.bytes().all(|b| b.is_ascii_graphic())
}

/// Where a key was declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeySource {
    /// In the config file (changed by editing it).
    Config,
    /// Through the admin API (kept in the store).
    Api,
}

/// A key's money limits, in US dollars over its period.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Spend at which requests are refused.
    #[serde(default)]
    pub hard_usd: Option<f64>,
    /// Spend past which answers carry a warning header.
    #[serde(default)]
    pub soft_usd: Option<f64>,
    /// How long the spend accumulates before it starts again from zero.
    #[serde(default)]
    pub period: BudgetPeriod,
}

/// How long a budget's spend accumulates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BudgetPeriod {
    /// A UTC calendar day.
    Daily,
    /// A UTC calendar month.
    #[default]
    Monthly,
    /// Never starts again.
    Total,
}

impl BudgetPeriod {
    /// The period `unix_secs` falls in, as a label (`2026-12-04`, `2026-12`, `total`) and the
    /// seconds until it ends (`None` for a total).
    pub fn at(self, unix_secs: u64) -> (String, Option<u64>) {
        let days = unix_secs / 86_400;
        let (year, month, day) = civil_from_days(days);
        match self {
            Self::Daily => (
                format!("{year:04}-{month:02}-{day:02}"),
                Some((days + 1) * 86_400 - unix_secs),
            ),
            Self::Monthly => {
                let (next_year, next_month) = if month == 12 {
                    (year + 1, 1)
                } else {
                    (year, month + 1)
                };
                let next = days_from_civil(next_year, next_month, 1) * 86_400;
                (
                    format!("{year:04}-{month:02}"),
                    Some(next.saturating_sub(unix_secs)),
                )
            }
            Self::Total => ("total".to_owned(), None),
        }
    }
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (Howard Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// The inverse of [`civil_from_days`].
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let yoe = year - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A virtual API key, as stored (never with its secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Stable id (`key_…` for API-made keys; the config's id for declared ones).
    pub id: String,
    /// A human name.
    pub name: String,
    /// The team whose limits and budget it shares, if any.
    #[serde(default)]
    pub team: Option<String>,
    /// Glob patterns of the models it may call (`*` or absent: every model).
    #[serde(default)]
    pub models: Vec<String>,
    /// Its own limits.
    #[serde(default)]
    pub limits: Limits,
    /// Its own budget.
    #[serde(default)]
    pub budget: Option<Budget>,
    /// Free-form labels, returned as given.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Refused from this moment on (unix seconds).
    #[serde(default)]
    pub expires_at: Option<u64>,
    /// Refused while set.
    #[serde(default)]
    pub disabled: bool,
    /// The secret's digest.
    pub secret_hash: SecretHash,
    /// The secret's last four characters, so people can tell their keys apart.
    pub secret_hint: String,
    /// When it was made (unix seconds).
    pub created_at: u64,
    /// Where it was declared.
    pub source: KeySource,
}

/// Why a key may not make a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRefusal {
    /// Disabled by an operator.
    #[error("This API key is disabled.")]
    Disabled,
    /// Past its expiry.
    #[error("This API key has expired.")]
    Expired,
    /// Not allowed this model.
    #[error("This API key may not call the model `{0}`.")]
    ModelNotAllowed(String),
}

impl KeyRecord {
    /// Whether the key may be used at `now` (unix seconds) at all.
    pub fn usable(&self, now: u64) -> Result<(), KeyRefusal> {
        if self.disabled {
            return Err(KeyRefusal::Disabled);
        }
        if self.expires_at.is_some_and(|at| now >= at) {
            return Err(KeyRefusal::Expired);
        }
        Ok(())
    }

    /// Whether the key may call `model`.
    pub fn may_call(&self, model: &str) -> Result<(), KeyRefusal> {
        if allows(&self.models, model) {
            Ok(())
        } else {
            Err(KeyRefusal::ModelNotAllowed(model.to_owned()))
        }
    }
}

/// Whether the allow-list `patterns` lets `model` through (empty: everything). A pattern that is
/// not a valid glob matches only itself, literally.
pub fn allows(patterns: &[String], model: &str) -> bool {
    patterns.is_empty()
        || patterns
            .iter()
            .any(|pattern| match glob::Pattern::new(pattern) {
                Ok(glob) => glob.matches(model),
                Err(_) => pattern == model,
            })
}

/// Checks an allow-list's patterns; the error names the first bad one.
pub fn check_patterns(patterns: &[String]) -> Result<(), String> {
    for pattern in patterns {
        glob::Pattern::new(pattern).map_err(|e| format!("`{pattern}` is not a glob: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_kept_only_as_its_digest_and_matches_itself() {
        let secret = new_secret().unwrap();
        assert!(secret.starts_with(SECRET_PREFIX));
        assert_eq!(secret.len(), SECRET_PREFIX.len() + 40);
        assert!(plausible_token(&secret));
        let hash = SecretHash::of(&secret);
        assert_eq!(hash.as_str().len(), 64);
        assert!(!hash.as_str().contains(&secret[6..]));
        assert!(hash.matches(&SecretHash::of(&secret)));
        assert!(!hash.matches(&SecretHash::of("sk-og-other")));
        assert_ne!(new_secret().unwrap(), secret);
        assert!(!format!("{hash:?}").contains(hash.as_str()));
    }

    #[test]
    fn hostile_tokens_are_not_worth_a_lookup() {
        assert!(!plausible_token(""));
        assert!(!plausible_token(&"a".repeat(MAX_TOKEN_LEN + 1)));
        assert!(!plausible_token("sk-og-ключ"));
        assert!(!plausible_token("sk og"));
        assert!(!plausible_token("sk-\u{0}"));
    }

    #[test]
    fn allow_lists_are_globs() {
        let list = vec!["gpt-*".to_owned(), "whisper".to_owned()];
        assert!(allows(&list, "gpt-4o"));
        assert!(allows(&list, "whisper"));
        assert!(!allows(&list, "whisper-large"));
        assert!(!allows(&list, "llama"));
        assert!(allows(&[], "anything"));
        assert!(check_patterns(&["[".to_owned()]).is_err());
    }

    #[test]
    fn budget_periods_end_at_midnight_and_at_the_month_end() {
        // 2026-12-04T04:00:00Z
        let t = 1_796_356_800;
        let (day, left) = BudgetPeriod::Daily.at(t);
        assert_eq!(day, "2026-12-04");
        assert_eq!(left, Some(20 * 3600));
        let (month, left) = BudgetPeriod::Monthly.at(t);
        assert_eq!(month, "2026-12");
        assert_eq!(left, Some(27 * 86_400 + 20 * 3600));
        assert_eq!(BudgetPeriod::Total.at(t), ("total".to_owned(), None));
        // The last second of February in a leap year.
        let (month, left) = BudgetPeriod::Monthly.at(1_709_251_199);
        assert_eq!((month.as_str(), left), ("2024-02", Some(1)));
    }
}
