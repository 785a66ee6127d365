//! `/admin/keys`: virtual API keys made, listed, changed and deleted through the API, kept in the
//! state store (so, with Redis, shared by every replica and kept across restarts). Keys declared
//! in the config are listed too, and changed only by editing the file.

use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::routes::docs::KeyAdminErrors;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use omnigate_openapi::{
    CreateKeyRequest, KeyDeleted, KeyList, KeyObject, KeyWithSecret, UpdateKeyRequest,
};
use omnigate_tenants::StoreError;
use omnigate_tenants::key::{
    KeyRecord, KeySource, SecretHash, check_patterns, new_key_id, new_secret,
};

/// Make a key.
///
/// The answer carries the key's secret: the only time it is shown. Only its SHA-256 digest is
/// kept.
#[utoipa::path(
    post,
    path = "/admin/keys",
    tag = "keys",
    operation_id = "createKey",
    request_body = CreateKeyRequest,
    responses(
        (status = 201, description = "The key, with its secret.", body = KeyWithSecret),
        KeyAdminErrors,
    ),
    security(("admin" = [])),
)]
pub async fn create_key(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<CreateKeyRequest>,
) -> Result<(StatusCode, Json<KeyWithSecret>), ApiError> {
    check(
        &request.name,
        &request.models,
        &request.limits,
        request.budget.as_ref(),
    )?;
    let secret = new_secret().map_err(|e| ApiError::Internal(format!("no randomness: {e}")))?;
    let id = new_key_id().map_err(|e| ApiError::Internal(format!("no randomness: {e}")))?;
    let record = KeyRecord {
        id,
        name: request.name,
        team: request.team.filter(|t| !t.is_empty()),
        models: request.models,
        limits: request.limits,
        budget: request.budget,
        metadata: request.metadata,
        expires_at: request.expires_at,
        disabled: request.disabled,
        secret_hint: hint(&secret),
        secret_hash: SecretHash::of(&secret),
        created_at: now_secs(),
        source: KeySource::Api,
    };
    store_key(&state, &record).await?;
    state.tenancy().key_made();
    tracing::info!(key = %record.id, name = %record.name, "key made");
    Ok((
        StatusCode::CREATED,
        Json(KeyWithSecret {
            key: object(&record),
            secret,
        }),
    ))
}

/// List keys.
#[utoipa::path(
    get,
    path = "/admin/keys",
    tag = "keys",
    operation_id = "listKeys",
    responses((status = 200, description = "Every key, without secrets.", body = KeyList), KeyAdminErrors),
    security(("admin" = [])),
)]
pub async fn list_keys(State(state): State<AppState>) -> Result<Json<KeyList>, ApiError> {
    let gatekeeper = state.tenancy().gatekeeper();
    let mut data: Vec<KeyObject> = gatekeeper
        .config_keys()
        .iter()
        .map(|key| object(key))
        .collect();
    let stored = gatekeeper
        .with_store(|store| async move { store.keys().await })
        .await
        .map_err(store_error)?;
    data.extend(stored.iter().map(object));
    Ok(Json(KeyList {
        object: "list".to_owned(),
        data,
    }))
}

/// Retrieve a key.
#[utoipa::path(
    get,
    path = "/admin/keys/{id}",
    tag = "keys",
    operation_id = "retrieveKey",
    params(("id" = String, Path, description = "The key's id.")),
    responses((status = 200, description = "The key, without its secret.", body = KeyObject), KeyAdminErrors),
    security(("admin" = [])),
)]
pub async fn get_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<KeyObject>, ApiError> {
    let gatekeeper = state.tenancy().gatekeeper();
    if let Some(key) = gatekeeper.config_keys().iter().find(|k| k.id == id) {
        return Ok(Json(object(key)));
    }
    let key = find(&state, &id).await?;
    Ok(Json(object(&key)))
}

/// Change a key.
///
/// Fields present replace the key's (`null` clears an optional one). With `rotate_secret`, the
/// key gets a new secret, returned in `secret` this once; the old one stops working at once on
/// this replica and within `state.key_cache_secs` on the others.
#[utoipa::path(
    patch,
    path = "/admin/keys/{id}",
    tag = "keys",
    operation_id = "updateKey",
    params(("id" = String, Path, description = "The key's id.")),
    request_body = UpdateKeyRequest,
    responses(
        (status = 200, description = "The key (with `secret` when rotated).", body = KeyWithSecret),
        KeyAdminErrors,
    ),
    security(("admin" = [])),
)]
pub async fn update_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(change): ApiJson<UpdateKeyRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    refuse_config_key(&state, &id)?;
    let mut key = find(&state, &id).await?;
    if let Some(name) = change.name {
        key.name = name;
    }
    if let Some(team) = change.team {
        key.team = team.filter(|t| !t.is_empty());
    }
    if let Some(models) = change.models {
        key.models = models;
    }
    if let Some(limits) = change.limits {
        key.limits = limits;
    }
    if let Some(budget) = change.budget {
        key.budget = budget;
    }
    if let Some(metadata) = change.metadata {
        key.metadata = metadata;
    }
    if let Some(expires_at) = change.expires_at {
        key.expires_at = expires_at;
    }
    if let Some(disabled) = change.disabled {
        key.disabled = disabled;
    }
    check(&key.name, &key.models, &key.limits, key.budget.as_ref())?;
    let secret = if change.rotate_secret {
        let secret = new_secret().map_err(|e| ApiError::Internal(format!("no randomness: {e}")))?;
        key.secret_hash = SecretHash::of(&secret);
        key.secret_hint = hint(&secret);
        Some(secret)
    } else {
        None
    };
    store_key(&state, &key).await?;
    tracing::info!(key = %key.id, rotated = secret.is_some(), "key changed");
    let mut body = serde_json::to_value(object(&key))
        .map_err(|e| ApiError::Internal(format!("key answer: {e}")))?;
    if let (Some(secret), Some(fields)) = (secret, body.as_object_mut()) {
        fields.insert("secret".to_owned(), serde_json::Value::from(secret));
    }
    Ok(Json(body))
}

/// Delete a key.
#[utoipa::path(
    delete,
    path = "/admin/keys/{id}",
    tag = "keys",
    operation_id = "deleteKey",
    params(("id" = String, Path, description = "The key's id.")),
    responses((status = 200, description = "Deleted.", body = KeyDeleted), KeyAdminErrors),
    security(("admin" = [])),
)]
pub async fn delete_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<KeyDeleted>, ApiError> {
    refuse_config_key(&state, &id)?;
    let gatekeeper = state.tenancy().gatekeeper();
    let key_id = id.clone();
    let existed = gatekeeper
        .with_store(|store| async move { store.delete_key(&key_id).await })
        .await
        .map_err(store_error)?;
    gatekeeper.forget_cached_keys();
    if !existed {
        return Err(no_such_key(&id));
    }
    tracing::info!(key = %id, "key deleted");
    Ok(Json(KeyDeleted {
        id,
        object: "api_key".to_owned(),
        deleted: true,
    }))
}

fn check(
    name: &str,
    models: &[String],
    limits: &omnigate_tenants::Limits,
    budget: Option<&omnigate_tenants::key::Budget>,
) -> Result<(), ApiError> {
    if name.trim().is_empty() || name.len() > 200 {
        return Err(ApiError::invalid(
            "`name` must be 1 to 200 characters.",
            Some("name"),
        ));
    }
    check_patterns(models).map_err(|e| ApiError::invalid(e, Some("models")))?;
    limits.check().map_err(|(field, why)| {
        ApiError::invalid(format!("`limits.{field}`: {why}"), Some("limits"))
    })?;
    if let Some(budget) = budget {
        let bad = |v: Option<f64>| v.is_some_and(|v| !(v.is_finite() && v >= 0.0));
        if bad(budget.hard_usd) || bad(budget.soft_usd) {
            return Err(ApiError::invalid(
                "`budget` amounts must be dollars, zero or more.",
                Some("budget"),
            ));
        }
    }
    Ok(())
}

async fn store_key(state: &AppState, key: &KeyRecord) -> Result<(), ApiError> {
    let gatekeeper = state.tenancy().gatekeeper();
    let record = key.clone();
    gatekeeper
        .with_store(|store| async move { store.put_key(&record).await })
        .await
        .map_err(store_error)?;
    gatekeeper.forget_cached_keys();
    Ok(())
}

async fn find(state: &AppState, id: &str) -> Result<KeyRecord, ApiError> {
    let key_id = id.to_owned();
    state
        .tenancy()
        .gatekeeper()
        .with_store(|store| async move { store.key(&key_id).await })
        .await
        .map_err(store_error)?
        .ok_or_else(|| no_such_key(id))
}

fn refuse_config_key(state: &AppState, id: &str) -> Result<(), ApiError> {
    if state
        .tenancy()
        .gatekeeper()
        .config_keys()
        .iter()
        .any(|k| k.id == id)
    {
        return Err(ApiError::Conflict(format!(
            "The key `{id}` is declared in the config file; change it there."
        )));
    }
    Ok(())
}

fn no_such_key(id: &str) -> ApiError {
    ApiError::NotFound(format!("No key with the id `{id}`."))
}

/// The store failed: the admin API says so (503, `retry-after`), as requests are told under
/// `fail_closed`; the detail goes to the log.
pub fn store_error(err: StoreError) -> ApiError {
    tracing::warn!(error = %err, "admin API: the state store did not answer");
    crate::tenancy::store_unavailable()
}

/// The secret's last four characters (secrets are ASCII: base-62 after the prefix).
fn hint(secret: &str) -> String {
    format!("…{}", &secret[secret.len().saturating_sub(4)..])
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A key as shown: never its secret.
fn object(key: &KeyRecord) -> KeyObject {
    KeyObject {
        object: "api_key".to_owned(),
        id: key.id.clone(),
        name: key.name.clone(),
        team: key.team.clone(),
        models: key.models.clone(),
        limits: key.limits,
        budget: key.budget,
        metadata: key.metadata.clone(),
        expires_at: key.expires_at,
        disabled: key.disabled,
        secret_hint: key.secret_hint.clone(),
        created_at: key.created_at,
        source: match key.source {
            KeySource::Config => "config",
            KeySource::Api => "api",
        }
        .to_owned(),
    }
}
