//! `GET /v1/fleet`: the workers the gateway hears from, fleet by fleet: their models, device,
//! load and last heartbeat.

use crate::routes::docs::AdminErrors;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use omnigate_openapi::{FleetList, FleetWorker};

/// List fleet workers.
///
/// Every worker whose heartbeat the gateway heard within three heartbeat intervals, for every
/// fleet (NATS subject prefix) a `fleet` deployment names.
#[utoipa::path(
    get,
    path = "/v1/fleet",
    tag = "admin",
    operation_id = "listFleetWorkers",
    responses(
        (status = 200, description = "Every worker heard from lately.", body = FleetList),
        AdminErrors,
    ),
    security(("admin" = [])),
)]
pub async fn list_workers(State(state): State<AppState>) -> Json<FleetList> {
    let mut data = Vec::new();
    for (fleet, watch) in state.fleets().iter() {
        for worker in watch.workers() {
            data.push(FleetWorker {
                fleet: fleet.clone(),
                id: worker.id,
                models: worker.models,
                device: worker.device,
                max_in_flight: worker.max_in_flight as u64,
                in_flight: worker.in_flight as u64,
                served: worker.served,
                seconds_since_heartbeat: (worker.seconds_since_heartbeat * 1000.0).round() / 1000.0,
                draining: worker.draining,
            });
        }
    }
    Json(FleetList {
        object: "list".to_owned(),
        data,
    })
}
