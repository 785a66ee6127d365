//! The admin API's shapes: virtual keys (`/admin/keys`) and usage (`/admin/usage`). A key's
//! secret appears in exactly one answer, the one that made (or rotated) it.

use omnigate_tenants::Limits;
use omnigate_tenants::key::Budget;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

/// A new key.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    /// A human name.
    pub name: String,
    /// The team whose limits and budget it shares.
    #[serde(default)]
    pub team: Option<String>,
    /// Glob patterns of the models it may call (`gpt-*`); absent or empty: every model.
    #[serde(default)]
    pub models: Vec<String>,
    /// Its limits; absent ones are unlimited.
    #[serde(default)]
    pub limits: Limits,
    /// Its budget.
    #[serde(default)]
    pub budget: Option<Budget>,
    /// Free-form labels.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Refused from this moment on (unix seconds).
    #[serde(default)]
    pub expires_at: Option<u64>,
    /// Made disabled.
    #[serde(default)]
    pub disabled: bool,
}

/// Changes to a key: fields present replace the key's; `null` clears an optional one.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateKeyRequest {
    /// A new name.
    #[serde(default)]
    pub name: Option<String>,
    /// A new team (`null`: none).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub team: Option<Option<String>>,
    /// A new allow-list.
    #[serde(default)]
    pub models: Option<Vec<String>>,
    /// New limits (replacing all of them).
    #[serde(default)]
    pub limits: Option<Limits>,
    /// A new budget (`null`: none).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Budget>)]
    pub budget: Option<Option<Budget>>,
    /// New labels (replacing all of them).
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
    /// A new expiry (`null`: never).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u64>)]
    pub expires_at: Option<Option<u64>>,
    /// Disable or enable it.
    #[serde(default)]
    pub disabled: Option<bool>,
    /// Make a new secret (returned once); the old one stops working.
    #[serde(default)]
    pub rotate_secret: bool,
}

/// A field that is present (even as `null`) is `Some`: tells "clear it" from "leave it".
fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A key as the admin API shows it: never its secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KeyObject {
    /// Always `api_key`.
    pub object: String,
    /// Stable id.
    pub id: String,
    /// Human name.
    pub name: String,
    /// Team.
    pub team: Option<String>,
    /// Allow-list (empty: every model).
    pub models: Vec<String>,
    /// Limits.
    pub limits: Limits,
    /// Budget.
    pub budget: Option<Budget>,
    /// Labels.
    pub metadata: BTreeMap<String, String>,
    /// Expiry (unix seconds).
    pub expires_at: Option<u64>,
    /// Whether it is disabled.
    pub disabled: bool,
    /// The secret's last characters (`…x7Qp`), to tell keys apart; empty for config keys.
    pub secret_hint: String,
    /// When it was made (unix seconds; 0 for config keys).
    pub created_at: u64,
    /// `config` (edit the file to change it) or `api`.
    pub source: String,
}

/// A key just made or rotated, with its secret: shown this once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KeyWithSecret {
    /// The key.
    #[serde(flatten)]
    pub key: KeyObject,
    /// The secret to send as `Authorization: Bearer <secret>`. Store it now: it cannot be
    /// shown again.
    pub secret: String,
}

/// Every key.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KeyList {
    /// Always `list`.
    pub object: String,
    /// The keys, config keys first, then by id.
    pub data: Vec<KeyObject>,
}

/// A deleted key.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KeyDeleted {
    /// Its id.
    pub id: String,
    /// Always `api_key`.
    pub object: String,
    /// Always true.
    pub deleted: bool,
}

/// What `/admin/usage` sums over.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// One key's usage only.
    pub key: Option<String>,
    /// From this time (unix seconds, inclusive; default: 24 hours ago). Counted in whole hours.
    pub from: Option<u64>,
    /// To this time (unix seconds, exclusive; default: now).
    pub to: Option<u64>,
    /// `key` (default), `team`, `model`, `day` or `hour`.
    pub group_by: Option<String>,
}

/// Usage summed by one group.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UsageRow {
    /// The group's value: a key id, team, model, or the start of a day or hour (unix seconds).
    pub group: String,
    /// Requests.
    pub requests: u64,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Megapixels of pictures and video frames.
    pub image_megapixels: f64,
    /// Seconds of audio.
    pub audio_seconds: f64,
    /// Video frames.
    pub video_frames: u64,
    /// What it cost, in US dollars, at the models' configured prices.
    pub spend_usd: f64,
}

/// `/admin/usage`'s answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UsageReport {
    /// Always `list`.
    pub object: String,
    /// The grouping.
    pub group_by: String,
    /// From (unix seconds, the start of its hour).
    pub from: u64,
    /// To (unix seconds).
    pub to: u64,
    /// One row per group.
    pub data: Vec<UsageRow>,
}
