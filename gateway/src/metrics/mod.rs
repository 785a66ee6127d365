//! Prometheus metrics: the recorder (installed once per process), the names, the series of each
//! route and each model, and `GET /metrics`. Label values are configured names or fixed
//! strings, registered once as handles, so recording allocates nothing per request.
//!
//! - `names.rs`: every name, label key and bucket list (the README's table follows it);
//! - `recorder.rs`: the recorder, buckets and descriptions;
//! - `routes.rs`: `/v1` requests by route and status class, and the gateway's own time;
//! - `series.rs` and `requests.rs`: each finished request counted by model and deployment
//!   (duration, time to first token, tokens, media, errors), from its `exchange`;
//! - `scrape.rs`: the text, with the gauges read at scrape time.

pub mod names;
mod recorder;
pub mod requests;
mod routes;
mod scrape;
pub mod series;

pub use names::{OVERHEAD_SECONDS, REQUESTS_TOTAL};
pub use recorder::{handle, spawn_upkeep};
pub use routes::{Route, record_request, route_of};
pub use scrape::render;
