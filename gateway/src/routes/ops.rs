//! Probes: `GET /health` (the process serves HTTP) and `GET /ready` (every model has a backend
//! that answers its health probe in time).

use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use futures::future::join_all;
use omnigate_openapi::{DeploymentHealth, Health, Readiness};

/// Liveness.
#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    operation_id = "health",
    responses((status = 200, description = "The process is up.", body = Health)),
)]
pub async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".to_owned(),
    })
}

/// Readiness.
///
/// Probes every deployment concurrently (each within `server.readiness_timeout_secs`). Ready
/// when every model has at least one healthy deployment.
#[utoipa::path(
    get,
    path = "/ready",
    tag = "operations",
    operation_id = "ready",
    responses(
        (status = 200, description = "Every model can be served.", body = Readiness),
        (status = 503, description = "Some model has no healthy deployment.", body = Readiness),
    ),
)]
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let timeout = state.settings().readiness_timeout;
    let registry = state.registry();
    let probes = registry.iter().flat_map(|model| {
        model
            .deployments()
            .iter()
            .enumerate()
            .map(move |(index, deployment)| {
                let backend = deployment.backend.clone();
                let routing = model
                    .pool()
                    .snapshot(index)
                    .map_or("healthy", |s| s.state.name())
                    .to_owned();
                let model = model.name.clone();
                async move {
                    let result = tokio::time::timeout(timeout, backend.health()).await;
                    let error = match result {
                        Ok(Ok(())) => None,
                        Ok(Err(err)) => Some(err.to_string()),
                        Err(_) => Some(format!("no answer within {:.1} s", timeout.as_secs_f64())),
                    };
                    DeploymentHealth {
                        model,
                        backend: backend.name().to_owned(),
                        healthy: error.is_none(),
                        routing,
                        error,
                    }
                }
            })
    });
    let deployments = join_all(probes).await;
    let all_served = state.registry().iter().all(|model| {
        deployments
            .iter()
            .any(|d| d.model == model.name && d.healthy)
    });
    let (status, word) = if all_served {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not_ready")
    };
    (
        status,
        Json(Readiness {
            status: word.to_owned(),
            deployments,
        }),
    )
}
