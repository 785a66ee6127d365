//! A model's deployments and the rule that picks one for each try.

use crate::budget::RetryBudget;
use crate::classify::Failure;
use crate::endpoint::{EndpointSnapshot, EndpointState, Health};
use crate::policy::{RoutingPolicy, Strategy};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// One deployment as the router sees it.
#[derive(Debug)]
pub struct Endpoint {
    name: String,
    weight: u32,
    max_in_flight: Option<usize>,
    /// Its backend's own bound on a whole-answer call (`Backend::call_timeout`).
    call_timeout: Option<Duration>,
    in_flight: AtomicUsize,
    health: Mutex<Health>,
}

impl Endpoint {
    /// Whether it was made with this weight and cap (a reload that changed neither keeps it).
    /// Its call bound needs no check: an endpoint is kept only with the backend it was made
    /// for (a deployment that no longer serves like before gets a new backend and endpoint).
    pub fn has_limits(&self, weight: u32, max_in_flight: Option<usize>) -> bool {
        self.weight == weight.max(1) && self.max_in_flight == max_in_flight
    }

    /// The same, its backend giving up on a whole-answer call by itself after `call_timeout`:
    /// a try allowed at least that long then runs without a timer of the router's.
    pub fn with_call_timeout(mut self, call_timeout: Option<Duration>) -> Self {
        self.call_timeout = call_timeout;
        self
    }

    /// A deployment called `name` (for logs and the admin view), with a static `weight` (≥ 1)
    /// and an optional cap on its requests in flight.
    pub fn new(name: impl Into<String>, weight: u32, max_in_flight: Option<usize>) -> Self {
        Self {
            name: name.into(),
            weight: weight.max(1),
            max_in_flight,
            call_timeout: None,
            in_flight: AtomicUsize::new(0),
            health: Mutex::new(Health::new(Instant::now())),
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn health(&self) -> MutexGuard<'_, Health> {
        match self.health.lock() {
            Ok(health) => health,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn full(&self) -> bool {
        self.max_in_flight
            .is_some_and(|max| self.in_flight.load(Ordering::Relaxed) >= max)
    }
}

/// Why no deployment could be leased.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoEndpoint {
    /// Every deployment is ejected or cooling down; the soonest is back after this long.
    Unavailable(Duration),
    /// Every deployment that could serve is at its `max_in_flight`.
    Full,
}

/// A model's deployments, their live state, and its retry budget. The endpoints are shared so
/// that a reloaded config keeps the live state (in flight, latency, health) of the deployments
/// it did not change: the old pool's requests and the new pool's count against the same ones.
#[derive(Debug)]
pub struct Pool {
    endpoints: Vec<Arc<Endpoint>>,
    policy: RoutingPolicy,
    next: AtomicUsize,
    /// Smooth weighted round-robin's running scores.
    weighted: Mutex<Vec<i64>>,
    pub(crate) budget: RetryBudget,
    /// Signalled when a lease ends, for requests queued while every deployment was full.
    pub(crate) freed: Notify,
    pub(crate) queued: AtomicUsize,
}

impl Pool {
    /// A pool of `endpoints` (in config order) under `policy`.
    pub fn new(endpoints: Vec<Endpoint>, policy: RoutingPolicy) -> Self {
        Self::shared(endpoints.into_iter().map(Arc::new).collect(), policy)
    }

    /// A pool of endpoints that may also belong to another pool (the one a reload replaces).
    pub fn shared(endpoints: Vec<Arc<Endpoint>>, policy: RoutingPolicy) -> Self {
        let retry = &policy.retry;
        Self {
            budget: RetryBudget::new(
                retry.budget_ratio,
                retry.budget_min_per_sec,
                retry.budget_window,
            ),
            weighted: Mutex::new(vec![0; endpoints.len()]),
            endpoints,
            policy,
            next: AtomicUsize::new(0),
            freed: Notify::new(),
            queued: AtomicUsize::new(0),
        }
    }

    /// The rules.
    pub fn policy(&self) -> &RoutingPolicy {
        &self.policy
    }

    /// How many deployments.
    pub fn len(&self) -> usize {
        self.endpoints.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }

    /// Deployment `index`.
    pub fn endpoint(&self, index: usize) -> Option<&Endpoint> {
        self.endpoints.get(index).map(|e| &**e)
    }

    /// Deployment `index`, to share with the pool a reload builds.
    pub fn shared_endpoint(&self, index: usize) -> Option<Arc<Endpoint>> {
        self.endpoints.get(index).cloned()
    }

    /// Whether any deployment may be sent a request now (for readiness).
    pub fn any_available(&self) -> bool {
        let now = Instant::now();
        self.endpoints.iter().any(|e| e.health().selectable(now))
    }

    /// Records an active probe of deployment `index` (see the endpoint's rules).
    pub fn probed(&self, index: usize, result: Result<(), String>) {
        if let Some(endpoint) = self.endpoints.get(index) {
            endpoint
                .health()
                .probed(result, Instant::now(), &self.policy.outlier);
        }
    }

    /// When to hedge a try on deployment `index`: its p95 latency, but no sooner than
    /// `min_delay` (and `min_delay` itself until it has answered once).
    pub fn hedge_delay(&self, index: usize, min_delay: Duration) -> Duration {
        let p95 = self
            .endpoints
            .get(index)
            .map_or(0.0, |endpoint| endpoint.health().p95_ns);
        Duration::from_nanos(p95 as u64).max(min_delay)
    }

    /// Requests waiting now for a deployment to have room (every one at its `max_in_flight`).
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// What the admin view shows of deployment `index`.
    pub fn snapshot(&self, index: usize) -> Option<EndpointSnapshot> {
        let endpoint = self.endpoints.get(index)?;
        let in_flight = endpoint.in_flight.load(Ordering::Relaxed);
        Some(endpoint.health().snapshot(in_flight, Instant::now()))
    }

    /// Leases a deployment for one try: by the strategy, among those in rotation and not full,
    /// preferring those not in `avoid` (the ones this request already tried) and taking one of
    /// those only when nothing else is left.
    pub fn acquire(self: &Arc<Self>, avoid: &[usize]) -> Result<Lease, NoEndpoint> {
        self.acquire_at(avoid, Instant::now())
    }

    /// [`Pool::acquire`] at `now` (a caller that has just read the clock passes its reading).
    pub(crate) fn acquire_at(
        self: &Arc<Self>,
        avoid: &[usize],
        now: Instant,
    ) -> Result<Lease, NoEndpoint> {
        // One deployment in rotation and not full (the common case): no lists, no draw.
        if let [only] = self.endpoints.as_slice()
            && !only.full()
        {
            let mut health = only.health();
            if health.selectable(now) {
                health.started(now);
                drop(health);
                return Ok(self.lease(0, now));
            }
        }
        let mut open = Vec::with_capacity(self.endpoints.len());
        let mut ejected = Vec::new();
        let mut full = false;
        let mut soonest: Option<Instant> = None;
        for (i, endpoint) in self.endpoints.iter().enumerate() {
            let health = endpoint.health();
            if !health.selectable(now) {
                if let Some(at) = health.available_at(now) {
                    soonest = Some(soonest.map_or(at, |s| s.min(at)));
                }
                if health.state(now) != EndpointState::CoolingDown && !endpoint.full() {
                    ejected.push(i);
                }
                continue;
            }
            if endpoint.full() {
                full = true;
                continue;
            }
            open.push(i);
        }
        // Panic mode (as Envoy and Finagle have it): when passive health has ejected every
        // deployment that could serve, ejection is ignored rather than failing every request;
        // outlier detection can only ever choose among deployments, not refuse the model.
        // Deployments that asked for a pause (`retry-after`) still get it.
        if open.is_empty() && !full {
            open = ejected;
        }
        let fresh: Vec<usize> = open
            .iter()
            .copied()
            .filter(|i| !avoid.contains(i))
            .collect();
        let candidates = if fresh.is_empty() { open } else { fresh };
        let Some(index) = self.choose(&candidates, now) else {
            return Err(if full {
                NoEndpoint::Full
            } else {
                let wait = soonest.map_or(Duration::from_secs(1), |at| {
                    at.saturating_duration_since(now)
                });
                NoEndpoint::Unavailable(wait)
            });
        };
        self.endpoints[index].health().started(now);
        Ok(self.lease(index, now))
    }

    /// A lease on `index`, counted in flight.
    fn lease(self: &Arc<Self>, index: usize, now: Instant) -> Lease {
        self.endpoints[index]
            .in_flight
            .fetch_add(1, Ordering::Relaxed);
        Lease {
            pool: Arc::clone(self),
            index,
            started: now,
            finished: false,
        }
    }

    fn choose(&self, candidates: &[usize], now: Instant) -> Option<usize> {
        match candidates {
            [] => return None,
            [only] => return Some(*only),
            _ => {}
        }
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        let in_turn = |offset: usize| candidates[(turn + offset) % candidates.len()];
        Some(match self.policy.strategy {
            Strategy::RoundRobin => in_turn(0),
            Strategy::LeastInFlight => (0..candidates.len())
                .map(in_turn)
                .min_by_key(|&i| self.endpoints[i].in_flight.load(Ordering::Relaxed))
                .unwrap_or_else(|| in_turn(0)),
            Strategy::Weighted => self.smooth_weighted(candidates),
            Strategy::P2cEwma => {
                let a = self.weighted_draw(candidates);
                let mut b = self.weighted_draw(candidates);
                if a == b {
                    // Two different ones, so the comparison means something.
                    b = candidates[(candidates.iter().position(|&c| c == a).unwrap_or(0) + 1)
                        % candidates.len()];
                }
                if self.cost(a, now) <= self.cost(b, now) {
                    a
                } else {
                    b
                }
            }
        })
    }

    /// Peak-EWMA latency × (requests in flight + 1), per unit of weight.
    fn cost(&self, index: usize, now: Instant) -> f64 {
        let endpoint = &self.endpoints[index];
        let pending = endpoint.in_flight.load(Ordering::Relaxed) as f64;
        endpoint.health().ewma.estimate_at(now) * (pending + 1.0) / f64::from(endpoint.weight)
    }

    /// A random candidate, in proportion to the weights.
    fn weighted_draw(&self, candidates: &[usize]) -> usize {
        let total: u64 = candidates
            .iter()
            .map(|&i| u64::from(self.endpoints[i].weight))
            .sum();
        let mut ticket = fastrand::u64(0..total.max(1));
        for &i in candidates {
            let weight = u64::from(self.endpoints[i].weight);
            if ticket < weight {
                return i;
            }
            ticket -= weight;
        }
        candidates[0]
    }

    /// nginx's smooth weighted round-robin: each candidate gains its weight, the highest score
    /// is chosen and pays the total back. Deterministic, and spreads heavy ones out.
    fn smooth_weighted(&self, candidates: &[usize]) -> usize {
        let mut scores = match self.weighted.lock() {
            Ok(scores) => scores,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut total = 0i64;
        let mut best = candidates[0];
        for &i in candidates {
            let weight = i64::from(self.endpoints[i].weight);
            total += weight;
            scores[i] += weight;
            if scores[i] > scores[best] {
                best = i;
            }
        }
        scores[best] -= total;
        best
    }

    fn release(&self, index: usize, finished: bool) {
        let endpoint = &self.endpoints[index];
        endpoint.in_flight.fetch_sub(1, Ordering::Relaxed);
        if !finished {
            endpoint.health().abandoned();
        }
        self.freed.notify_one();
    }
}

/// One deployment leased for one try. It counts as in flight until dropped (for a stream, until
/// the stream ends); its outcome is recorded with [`Lease::succeeded`] or [`Lease::failed`].
#[derive(Debug)]
pub struct Lease {
    pool: Arc<Pool>,
    index: usize,
    started: Instant,
    finished: bool,
}

impl Lease {
    /// Which deployment (its index in the model's config).
    pub fn index(&self) -> usize {
        self.index
    }

    /// The deployment's name.
    pub fn name(&self) -> &str {
        self.pool.endpoints[self.index].name()
    }

    /// Whether a whole-answer try allowed `timeout` ends by itself in time: the deployment's
    /// backend gives up on the call no later (so the router's timer would only add work).
    pub(crate) fn ends_within(&self, timeout: Duration) -> bool {
        self.pool.endpoints[self.index]
            .call_timeout
            .is_some_and(|own| own <= timeout)
    }

    /// Records a success: the time since the lease began is the latency sample (for a stream,
    /// call it at the first event: time to first token is what balancing should weigh).
    pub fn succeeded(&mut self) {
        let now = Instant::now();
        let latency = now.saturating_duration_since(self.started);
        self.pool.endpoints[self.index]
            .health()
            .succeeded(latency, now, &self.pool.policy.outlier);
        self.finished = true;
    }

    /// Records a failure (also one after success was recorded: a stream that broke mid-way).
    pub fn failed(&mut self, failure: &Failure) {
        self.pool.endpoints[self.index].health().failed(
            failure,
            Instant::now(),
            &self.pool.policy.outlier,
        );
        self.finished = true;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.pool.release(self.index, self.finished);
    }
}

#[cfg(test)]
#[path = "pool_tests.rs"]
mod tests;
