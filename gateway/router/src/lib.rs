//! omnigate's router: where each request goes, and what happens when a deployment fails.
//!
//! A model's deployments form a [`Pool`]. Each request leases one deployment at a time
//! ([`Pool::acquire`]): the [`Strategy`] picks among those that are not ejected, cooling down or
//! full, and the lease records the outcome (latency into a peak-EWMA estimate, failures into
//! passive outlier detection). [`Attempts`] drives one request through the pool: a per-try
//! timeout, an overall deadline, retries on *another* deployment for failures a retry can fix,
//! bounded by a [`RetryBudget`] so that retries cannot multiply an outage, with jittered
//! exponential back-off when it must come back to one already tried.
//!
//! No HTTP types: failures are classified from the backend boundary's [`BackendError`], and time
//! is tokio's, so every rule here is unit-tested with a paused clock.
//!
//! [`BackendError`]: omnigate_backend::BackendError

mod attempts;
mod backoff;
mod budget;
mod classify;
mod endpoint;
mod ewma;
mod hedge;
mod policy;
mod pool;
mod spans;

pub use attempts::{Attempt, Attempts, Exhausted, Gave};
pub use backoff::Backoff;
pub use budget::RetryBudget;
pub use classify::{Failure, FailureClass, classify, is_context_overflow};
pub use endpoint::{EndpointSnapshot, EndpointState};
pub use ewma::PeakEwma;
pub use policy::{HedgePolicy, OutlierPolicy, RetryPolicy, RoutingPolicy, Strategy};
pub use pool::{Endpoint, Lease, NoEndpoint, Pool};
