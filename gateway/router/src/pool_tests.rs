//! Balancing and leasing, on a paused clock.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::classify::FailureClass;

fn pool(strategy: Strategy, weights: &[u32], max_in_flight: Option<usize>) -> Arc<Pool> {
    let endpoints = weights
        .iter()
        .enumerate()
        .map(|(i, &w)| Endpoint::new(format!("d{i}"), w, max_in_flight))
        .collect();
    let policy = RoutingPolicy {
        strategy,
        ..RoutingPolicy::default()
    };
    Arc::new(Pool::new(endpoints, policy))
}

fn counts(pool: &Arc<Pool>, picks: usize) -> Vec<usize> {
    let mut counts = vec![0; pool.len()];
    for _ in 0..picks {
        let mut lease = pool.acquire(&[]).unwrap();
        lease.succeeded();
        counts[lease.index()] += 1;
    }
    counts
}

#[tokio::test(start_paused = true)]
async fn round_robin_and_equal_weights_spread_evenly() {
    assert_eq!(
        counts(&pool(Strategy::RoundRobin, &[1, 1, 1], None), 300),
        [100, 100, 100]
    );
    assert_eq!(
        counts(&pool(Strategy::Weighted, &[1, 1, 1], None), 300),
        [100, 100, 100]
    );
}

#[tokio::test(start_paused = true)]
async fn static_weights_are_honoured() {
    assert_eq!(
        counts(&pool(Strategy::Weighted, &[3, 1], None), 400),
        [300, 100]
    );
}

#[tokio::test(start_paused = true)]
async fn least_in_flight_picks_the_idle_one() {
    let pool = pool(Strategy::LeastInFlight, &[1, 1], None);
    let busy = pool.acquire(&[]).unwrap();
    for _ in 0..10 {
        let lease = pool.acquire(&[]).unwrap();
        assert_ne!(lease.index(), busy.index());
    }
}

#[tokio::test(start_paused = true)]
async fn p2c_ewma_sends_most_requests_to_the_fast_deployment() {
    let pool = pool(Strategy::P2cEwma, &[1, 1], None);
    let latency = [Duration::from_millis(1), Duration::from_millis(20)];
    let mut counts = [0usize; 2];
    for _ in 0..2000 {
        let mut lease = pool.acquire(&[]).unwrap();
        tokio::time::advance(latency[lease.index()]).await;
        lease.succeeded();
        counts[lease.index()] += 1;
    }
    let fast_share = counts[0] as f64 / 2000.0;
    assert!(fast_share >= 0.9, "{counts:?}");
}

#[tokio::test(start_paused = true)]
async fn p2c_ewma_spreads_equal_deployments_evenly() {
    let pool = pool(Strategy::P2cEwma, &[1, 1, 1], None);
    let mut counts = [0usize; 3];
    // Three requests in flight at a time, each taking 5 ms, as under steady load.
    let mut open: Vec<Lease> = Vec::new();
    for _ in 0..3000 {
        if open.len() == 3 {
            let mut lease = open.remove(0);
            lease.succeeded();
        }
        tokio::time::advance(Duration::from_millis(5)).await;
        let lease = pool.acquire(&[]).unwrap();
        counts[lease.index()] += 1;
        open.push(lease);
    }
    for count in counts {
        assert!((900..=1100).contains(&count), "{counts:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_full_deployment_is_skipped_and_all_full_is_said() {
    let pool = pool(Strategy::RoundRobin, &[1, 1], Some(1));
    let a = pool.acquire(&[]).unwrap();
    let b = pool.acquire(&[]).unwrap();
    assert_ne!(a.index(), b.index());
    assert_eq!(pool.acquire(&[]).unwrap_err(), NoEndpoint::Full);
    drop(a);
    assert!(pool.acquire(&[]).is_ok());
}

#[tokio::test(start_paused = true)]
async fn an_ejected_deployment_gets_nothing_until_its_trial() {
    let pool = pool(Strategy::RoundRobin, &[1, 1], None);
    let boom = Failure {
        class: FailureClass::Retry,
        summary: "500".into(),
    };
    for _ in 0..3 {
        let mut lease = pool.acquire(&[1]).unwrap();
        assert_eq!(lease.index(), 0);
        lease.failed(&boom);
    }
    for _ in 0..10 {
        assert_eq!(pool.acquire(&[]).unwrap().index(), 1);
    }
    assert_eq!(pool.snapshot(0).unwrap().state.name(), "ejected");
    tokio::time::advance(Duration::from_millis(500)).await;
    assert_eq!(pool.snapshot(0).unwrap().state.name(), "half_open");
    let mut trial = pool.acquire(&[1]).unwrap();
    assert_eq!(trial.index(), 0);
    trial.succeeded();
    drop(trial);
    assert_eq!(pool.snapshot(0).unwrap().state.name(), "healthy");
}

#[tokio::test(start_paused = true)]
async fn with_every_deployment_ejected_they_are_tried_anyway() {
    let pool = pool(Strategy::RoundRobin, &[1, 1], None);
    let boom = Failure {
        class: FailureClass::Retry,
        summary: "refused".into(),
    };
    for _ in 0..6 {
        pool.acquire(&[]).unwrap().failed(&boom);
    }
    assert_eq!(pool.snapshot(0).unwrap().state.name(), "ejected");
    assert_eq!(pool.snapshot(1).unwrap().state.name(), "ejected");
    assert!(!pool.any_available());
    assert!(
        pool.acquire(&[]).is_ok(),
        "panic mode: ejection cannot refuse the model"
    );
}

#[tokio::test(start_paused = true)]
async fn with_every_deployment_cooling_down_the_soonest_return_is_said() {
    let pool = pool(Strategy::RoundRobin, &[1, 1], None);
    for seconds in [3, 2] {
        pool.acquire(&[]).unwrap().failed(&Failure {
            class: FailureClass::RetryAfter(Duration::from_secs(seconds)),
            summary: "429".into(),
        });
    }
    assert_eq!(
        pool.acquire(&[]).unwrap_err(),
        NoEndpoint::Unavailable(Duration::from_secs(2))
    );
}
