//! `GET /v1/deployments`: the operator's view of routing: every deployment's state (healthy,
//! ejected, half-open, cooling down), requests in flight, latency estimate and recent errors.

use crate::routes::docs::AdminErrors;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use omnigate_openapi::{DeploymentList, DeploymentStatus};

/// List deployments.
///
/// Every deployment of every model as the router sees it now: whether it is in rotation, how
/// many requests it has in flight, its peak-EWMA latency, and its last failures.
#[utoipa::path(
    get,
    path = "/v1/deployments",
    tag = "admin",
    operation_id = "listDeployments",
    responses(
        (status = 200, description = "Every deployment.", body = DeploymentList),
        AdminErrors,
    ),
    security(("admin" = [])),
)]
pub async fn list_deployments(State(state): State<AppState>) -> Json<DeploymentList> {
    let mut data = Vec::new();
    for model in state.registry().iter() {
        let pool = model.pool();
        for (index, deployment) in model.deployments().iter().enumerate() {
            let Some(snapshot) = pool.snapshot(index) else {
                continue;
            };
            data.push(DeploymentStatus {
                model: model.name.clone(),
                deployment: deployment.name.clone(),
                backend: deployment.backend.name().to_owned(),
                state: snapshot.state.name().to_owned(),
                in_flight: snapshot.in_flight as u64,
                ewma_ms: (snapshot.ewma_ms * 1000.0).round() / 1000.0,
                requests: snapshot.requests,
                failures: snapshot.failures,
                unavailable_for_secs: snapshot.unavailable_for.map(|d| d.as_secs_f64()),
                recent_errors: snapshot.recent_errors,
            });
        }
    }
    Json(DeploymentList {
        object: "list".to_owned(),
        data,
    })
}
