//! One request's tries, on a paused clock.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::policy::{RetryPolicy, RoutingPolicy, Strategy};
use crate::pool::Endpoint;

fn pool_with(deployments: usize, retry: RetryPolicy, max_in_flight: Option<usize>) -> Arc<Pool> {
    let endpoints = (0..deployments)
        .map(|i| Endpoint::new(format!("d{i}"), 1, max_in_flight))
        .collect();
    round_robin(endpoints, retry)
}

fn round_robin(endpoints: Vec<Endpoint>, retry: RetryPolicy) -> Arc<Pool> {
    Arc::new(Pool::new(
        endpoints,
        RoutingPolicy {
            strategy: Strategy::RoundRobin,
            retry,
            ..RoutingPolicy::default()
        },
    ))
}

fn pool(deployments: usize) -> Arc<Pool> {
    pool_with(deployments, RetryPolicy::default(), None)
}

fn down() -> BackendError {
    BackendError::Unavailable("connection refused".into())
}

#[tokio::test(start_paused = true)]
async fn a_failed_try_is_retried_on_another_deployment() {
    let pool = pool(2);
    let mut attempts = Attempts::new(pool, None);
    let mut seen = Vec::new();
    let (answer, lease) = attempts
        .run(|index| {
            seen.push(index);
            async move {
                if index == 0 {
                    Err(down())
                } else {
                    Ok("answer")
                }
            }
        })
        .await
        .unwrap();
    assert_eq!(answer, "answer");
    assert_eq!(lease.index(), 1);
    assert_eq!(seen, [0, 1]);
    assert_eq!(attempts.made(), 2);
}

#[tokio::test(start_paused = true)]
async fn the_clients_own_mistake_is_not_retried() {
    let mut attempts = Attempts::new(pool(2), None);
    let gave = attempts
        .run(|_| async {
            Err::<(), _>(BackendError::Rejected {
                status: 400,
                message: "bad".into(),
                param: None,
            })
        })
        .await
        .unwrap_err();
    assert_eq!(gave.reason, Exhausted::Fatal);
    assert_eq!(gave.attempts, 1);
    assert!(matches!(gave.last, Some(BackendError::Rejected { .. })));
}

#[tokio::test(start_paused = true)]
async fn a_hanging_try_times_out_and_another_answers() {
    let retry = RetryPolicy {
        per_try_timeout: Duration::from_secs(2),
        ..RetryPolicy::default()
    };
    let mut attempts = Attempts::new(pool_with(2, retry, None), None);
    let started = Instant::now();
    let (answer, lease) = attempts
        .run(|index| async move {
            if index == 0 {
                std::future::pending::<()>().await;
            }
            Ok(index)
        })
        .await
        .unwrap();
    assert_eq!((answer, lease.index()), (1, 1));
    assert_eq!(started.elapsed(), Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn nothing_outlives_the_deadline() {
    let retry = RetryPolicy {
        per_try_timeout: Duration::from_secs(10),
        max_attempts: 10,
        ..RetryPolicy::default()
    };
    let mut attempts = Attempts::new(pool_with(3, retry, None), Some(Duration::from_secs(4)));
    let started = Instant::now();
    let gave = attempts
        .run(|_| async {
            std::future::pending::<()>().await;
            Ok(())
        })
        .await
        .unwrap_err();
    assert!(started.elapsed() <= Duration::from_secs(4));
    assert_eq!(gave.reason, Exhausted::Deadline(Duration::from_secs(4)));
    assert!(matches!(gave.last, Some(BackendError::Timeout(_))));
}

#[tokio::test(start_paused = true)]
async fn a_request_deadline_cannot_exceed_the_models() {
    let retry = RetryPolicy {
        deadline: Duration::from_secs(3),
        per_try_timeout: Duration::from_secs(60),
        ..RetryPolicy::default()
    };
    let mut attempts = Attempts::new(pool_with(1, retry, None), Some(Duration::from_secs(100)));
    let attempt = attempts.next().await.unwrap();
    assert_eq!(attempt.timeout, Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn one_deployment_is_tried_again_after_a_back_off() {
    let mut attempts = Attempts::new(pool(1), None);
    let mut tries = 0;
    let (answer, _) = attempts
        .run(|_| {
            tries += 1;
            let first = tries == 1;
            async move { if first { Err(down()) } else { Ok("second") } }
        })
        .await
        .unwrap();
    assert_eq!(answer, "second");
    assert_eq!(attempts.made(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_spent_budget_stops_retries() {
    let retry = RetryPolicy {
        budget_ratio: 0.0,
        budget_min_per_sec: 0.0,
        ..RetryPolicy::default()
    };
    let mut attempts = Attempts::new(pool_with(2, retry, None), None);
    let gave = attempts
        .run(|_| async { Err::<(), _>(down()) })
        .await
        .unwrap_err();
    assert_eq!(gave.reason, Exhausted::NoMoreTries);
    assert_eq!(gave.attempts, 1);
}

#[tokio::test(start_paused = true)]
async fn attempts_stop_at_the_limit() {
    let mut attempts = Attempts::new(pool(5), None);
    let gave = attempts
        .run(|_| async { Err::<(), _>(down()) })
        .await
        .unwrap_err();
    assert_eq!(gave.reason, Exhausted::NoMoreTries);
    assert_eq!(gave.attempts, 3);
}

#[tokio::test(start_paused = true)]
async fn with_every_deployment_full_a_request_waits_its_turn() {
    let pool = pool_with(1, RetryPolicy::default(), Some(1));
    let busy = pool.acquire(&[]).unwrap();
    let waiter = tokio::spawn({
        let pool = Arc::clone(&pool);
        async move {
            Attempts::new(pool, None)
                .next()
                .await
                .map(|a| a.lease.index())
        }
    });
    tokio::time::advance(Duration::from_millis(100)).await;
    drop(busy);
    assert_eq!(waiter.await.unwrap(), Ok(0));
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_is_saturation() {
    let pool = pool_with(1, RetryPolicy::default(), Some(1));
    let _busy = pool.acquire(&[]).unwrap();
    let started = Instant::now();
    let err = Attempts::new(Arc::clone(&pool), None)
        .next()
        .await
        .unwrap_err();
    assert_eq!(err, Exhausted::Saturated);
    assert_eq!(started.elapsed(), pool.policy().queue_timeout);
}

fn hedged_pool(deployments: usize, min_delay: Duration) -> Arc<Pool> {
    let endpoints = (0..deployments)
        .map(|i| Endpoint::new(format!("d{i}"), 1, None))
        .collect();
    Arc::new(Pool::new(
        endpoints,
        RoutingPolicy {
            strategy: Strategy::RoundRobin,
            hedge: Some(crate::policy::HedgePolicy { min_delay }),
            ..RoutingPolicy::default()
        },
    ))
}

#[tokio::test(start_paused = true)]
async fn a_slow_try_is_hedged_on_another_deployment_and_the_first_answer_wins() {
    let pool = hedged_pool(2, Duration::from_millis(100));
    let mut attempts = Attempts::new(Arc::clone(&pool), None);
    let started = Instant::now();
    let (answer, lease) = attempts
        .run_hedged(|index| async move {
            if index == 0 {
                tokio::time::sleep(Duration::from_secs(10)).await;
            } else {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Ok(index)
        })
        .await
        .unwrap();
    assert_eq!((answer, lease.index()), (1, 1));
    assert_eq!(started.elapsed(), Duration::from_millis(105));
    assert_eq!(attempts.made(), 2);
    drop(lease);
    // The slow copy was cancelled: nothing is left in flight.
    assert_eq!(pool.snapshot(0).unwrap().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn a_fast_try_is_not_hedged() {
    let pool = hedged_pool(2, Duration::from_millis(100));
    let mut attempts = Attempts::new(pool, None);
    let (answer, _) = attempts
        .run_hedged(|index| async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            Ok(index)
        })
        .await
        .unwrap();
    assert_eq!(answer, 0);
    assert_eq!(attempts.made(), 1);
}

#[tokio::test(start_paused = true)]
async fn when_the_hedge_fails_the_first_try_still_answers() {
    let pool = hedged_pool(2, Duration::from_millis(50));
    let mut attempts = Attempts::new(pool, None);
    let (answer, lease) = attempts
        .run_hedged(|index| async move {
            if index == 0 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                Ok(index)
            } else {
                Err(down())
            }
        })
        .await
        .unwrap();
    assert_eq!((answer, lease.index()), (0, 0));
}

/// `deployments` deployments whose backends give up on a call by themselves after `bound`.
fn bounded_pool(deployments: usize, per_try_timeout: Duration, bound: Duration) -> Arc<Pool> {
    let endpoints = (0..deployments)
        .map(|i| Endpoint::new(format!("d{i}"), 1, None).with_call_timeout(Some(bound)))
        .collect();
    let retry = RetryPolicy {
        per_try_timeout,
        ..RetryPolicy::default()
    };
    round_robin(endpoints, retry)
}

#[tokio::test(start_paused = true)]
async fn a_whole_answer_within_its_backends_bound_runs_without_the_routers_timer() {
    let pool = bounded_pool(2, Duration::from_secs(2), Duration::from_secs(1));
    let lease = pool.acquire(&[]).unwrap();
    assert!(lease.ends_within(Duration::from_secs(1)));
    assert!(lease.ends_within(Duration::from_secs(2)));
    assert!(!lease.ends_within(Duration::from_millis(500)));
    drop(lease);
    // The backend is trusted to end the call; one that never does shows no timer was set.
    let mut attempts = Attempts::new(pool, None);
    let hung = tokio::time::timeout(
        Duration::from_secs(10),
        attempts.run_hedged(|_| async {
            std::future::pending::<()>().await;
            Ok(())
        }),
    )
    .await;
    assert!(hung.is_err(), "the router timed the try out itself");
}

#[tokio::test(start_paused = true)]
async fn a_backend_that_ends_its_call_with_a_timeout_is_retried_elsewhere() {
    let bound = Duration::from_secs(1);
    let mut attempts = Attempts::new(bounded_pool(2, Duration::from_secs(2), bound), None);
    let started = Instant::now();
    let (answer, lease) = attempts
        .run_hedged(|index| async move {
            if index == 0 {
                tokio::time::sleep(bound).await;
                return Err(BackendError::Timeout(bound));
            }
            Ok(index)
        })
        .await
        .unwrap();
    assert_eq!((answer, lease.index()), (1, 1));
    assert_eq!(started.elapsed(), bound);
}

#[tokio::test(start_paused = true)]
async fn the_routers_timer_stays_for_a_shorter_try_and_for_streams() {
    let hanging_first = |index: usize| async move {
        if index == 0 {
            std::future::pending::<()>().await;
        }
        Ok(index)
    };
    // A try allowed less than the backend's own bound.
    let pool = bounded_pool(2, Duration::from_secs(2), Duration::from_secs(5));
    let mut attempts = Attempts::new(pool, None);
    let started = Instant::now();
    let (answer, _) = attempts.run_hedged(hanging_first).await.unwrap();
    assert_eq!((answer, started.elapsed()), (1, Duration::from_secs(2)));
    // A stream's first event is not covered by the bound.
    let pool = bounded_pool(2, Duration::from_secs(2), Duration::from_secs(1));
    let mut attempts = Attempts::new(pool, None);
    let started = Instant::now();
    let (answer, _) = attempts.run(hanging_first).await.unwrap();
    assert_eq!((answer, started.elapsed()), (1, Duration::from_secs(2)));
}
