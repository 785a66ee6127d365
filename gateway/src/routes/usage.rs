//! `GET /admin/usage`: what keys, teams and models used and cost, summed from the store's hourly
//! buckets (every replica's, when the store is shared).

use crate::error::ApiError;
use crate::routes::admin_keys::store_error;
use crate::routes::docs::KeyAdminErrors;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Query, State};
use omnigate_openapi::{UsageQuery, UsageReport, UsageRow};
use omnigate_tenants::usage::{GroupBy, dollars, group, hour_of};

/// Usage and spend.
///
/// Sums usage over `[from, to)` by `group_by`. Usage is kept per hour, so `from` counts from
/// the start of its hour.
#[utoipa::path(
    get,
    path = "/admin/usage",
    tag = "usage",
    operation_id = "getUsage",
    params(UsageQuery),
    responses((status = 200, description = "Usage by group.", body = UsageReport), KeyAdminErrors),
    security(("admin" = [])),
)]
pub async fn get_usage(
    State(state): State<AppState>,
    Query(query): Query<UsageQuery>,
) -> Result<Json<UsageReport>, ApiError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let to = query.to.unwrap_or(now + 1);
    let from = hour_of(query.from.unwrap_or(to.saturating_sub(86_400)));
    if from >= to {
        return Err(ApiError::invalid(
            "`from` must be before `to`.",
            Some("from"),
        ));
    }
    let (group_by, name) = match query.group_by.as_deref().unwrap_or("key") {
        "key" => (GroupBy::Key, "key"),
        "team" => (GroupBy::Team, "team"),
        "model" => (GroupBy::Model, "model"),
        "day" => (GroupBy::Day, "day"),
        "hour" => (GroupBy::Hour, "hour"),
        other => {
            return Err(ApiError::invalid(
                format!("`group_by` must be key, team, model, day or hour, not `{other}`."),
                Some("group_by"),
            ));
        }
    };
    let key = query.key.clone();
    let buckets = state
        .tenancy()
        .gatekeeper()
        .with_store(|store| async move { store.usage(key.as_deref(), from, to).await })
        .await
        .map_err(store_error)?;
    let data = group(&buckets, group_by)
        .into_iter()
        .map(|(group, totals)| UsageRow {
            group,
            requests: totals.requests,
            prompt_tokens: totals.prompt_tokens,
            completion_tokens: totals.completion_tokens,
            image_megapixels: totals.image_pixels as f64 / 1e6,
            audio_seconds: totals.audio_ms as f64 / 1e3,
            video_frames: totals.video_frames,
            spend_usd: dollars(totals.spend_micros),
        })
        .collect();
    Ok(Json(UsageReport {
        object: "list".to_owned(),
        group_by: name.to_owned(),
        from,
        to,
        data,
    }))
}
