//! The HTTP application: routes plus the middleware stack, as one `Router` that tests can drive
//! without a socket. Layers, outermost first: request id (also copied onto the response) →
//! tracing span → body limit → failures logged once → the access log and request metrics → panics
//! caught as 500s; `/v1` adds the overhead header → authentication → load shedding.

use crate::layers::access::AccessLayer;
use crate::layers::request_id::RequestIdLayer;
use crate::layers::{auth, error_log, overhead::OverheadLayer, shed::ShedLayer};
use crate::metrics;
use crate::routes;
use crate::state::AppState;
use crate::telemetry;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa_swagger_ui::SwaggerUi;

/// The complete application for `state`.
pub fn app(state: AppState) -> Router {
    let (v1, mut spec) = routes::v1_routes().split_for_parts();
    let (ops, ops_spec) = routes::ops_routes().split_for_parts();
    spec.merge(ops_spec);
    let (admin, admin_spec) = routes::admin_routes().split_for_parts();
    spec.merge(admin_spec);
    let admin = admin.layer(axum::middleware::from_fn_with_state(
        state.clone(),
        auth::require_admin_key,
    ));

    let shed = ShedLayer::new(state.settings().max_concurrent_requests);
    let in_flight = shed.in_flight();
    let v1 = v1
        .layer(shed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_api_key,
        ))
        .layer(OverheadLayer);
    // Make sure the recorder exists before the first request records into it.
    let _ = metrics::handle();
    // `server.access_log`, read at startup (state built from parts: on).
    let access_log = state
        .live()
        .config
        .as_ref()
        .is_none_or(|config| config.server.access_log);

    // The request's span (an OpenTelemetry server span when traces are on: telemetry.rs).
    let trace = TraceLayer::new_for_http()
        .make_span_with(telemetry::request_span)
        .on_response(telemetry::RecordResponse::default());

    Router::new()
        .merge(v1)
        .merge(admin)
        .merge(ops)
        .route(
            "/metrics",
            axum::routing::get(move |State(state): State<AppState>| {
                let in_flight = in_flight.now();
                async move { metrics::render(&state, in_flight) }
            }),
        )
        // The docs page's assets are vendored into the binary: it renders with no internet.
        .merge(SwaggerUi::new("/docs").url("/openapi.json", spec))
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(DefaultBodyLimit::max(state.settings().max_body_bytes))
        // One stack, added with one `Router::layer`: each call wraps every route in another
        // boxed service, which every request pays for.
        .layer(
            ServiceBuilder::new()
                .layer(RequestIdLayer)
                .layer(trace)
                .layer(error_log::ErrorLogLayer)
                .layer(AccessLayer::new(access_log))
                .layer(CatchPanicLayer::custom(error_log::panic_response)),
        )
        .with_state(state)
}
