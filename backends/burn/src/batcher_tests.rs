//! Tests of batching: who shares a batch, what is refused, what a failing model costs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use std::sync::{Arc, Mutex};

/// Doubles its inputs, records each batch, sleeps per batch, panics on input 13.
struct Recorder {
    batches: Arc<Mutex<Vec<Vec<u32>>>>,
    pause: Duration,
}

impl BatchModel for Recorder {
    type Input = u32;
    type Output = u32;
    fn cost(input: &u32) -> usize {
        *input as usize
    }
    fn run(&mut self, inputs: Vec<u32>) -> Vec<Result<u32, BackendError>> {
        self.batches.lock().unwrap().push(inputs.clone());
        std::thread::sleep(self.pause);
        assert!(!inputs.contains(&13), "unlucky input");
        inputs.into_iter().map(|i| Ok(i * 2)).collect()
    }
}

pub(super) async fn start(
    limits: BatchLimits,
    pause: Duration,
) -> (Batcher<u32, u32>, Arc<Mutex<Vec<Vec<u32>>>>) {
    let batches = Arc::new(Mutex::new(Vec::new()));
    let seen = batches.clone();
    let batcher = Batcher::start("test", limits, move || {
        Ok(Recorder {
            batches: seen,
            pause,
        })
    })
    .await
    .unwrap();
    (batcher, batches)
}

pub(super) fn limits(size: usize, tokens: usize, delay_ms: u64, capacity: usize) -> BatchLimits {
    BatchLimits {
        max_batch_size: size,
        max_batch_tokens: tokens,
        max_queue_delay: Duration::from_millis(delay_ms),
        queue_capacity: capacity,
        wedged_after: Duration::from_secs(120),
    }
}

#[tokio::test]
async fn concurrent_requests_share_a_batch_and_each_gets_its_own_answer() {
    let (batcher, batches) = start(limits(8, 1000, 200, 64), Duration::ZERO).await;
    let calls = (1..=5).map(|i| {
        let b = batcher.clone();
        async move { b.call(i, 1).await }
    });
    let answers: Vec<u32> = futures::future::try_join_all(calls).await.unwrap();
    assert_eq!(answers, vec![2, 4, 6, 8, 10]);
    assert_eq!(
        batches.lock().unwrap().len(),
        1,
        "{:?}",
        batches.lock().unwrap()
    );
}

#[tokio::test]
async fn batches_respect_size_and_token_limits() {
    let (batcher, batches) = start(limits(3, 10, 100, 64), Duration::from_millis(5)).await;
    let calls = [4u32, 4, 4, 1, 1, 1, 1, 1].map(|i| {
        let b = batcher.clone();
        async move { b.call(i, i as usize).await }
    });
    futures::future::try_join_all(calls).await.unwrap();
    for batch in batches.lock().unwrap().iter() {
        assert!(batch.len() <= 3, "{batch:?}");
        assert!(batch.iter().sum::<u32>() <= 10, "{batch:?}");
    }
    let total: usize = batches.lock().unwrap().iter().map(Vec::len).sum();
    assert_eq!(total, 8);
}

#[tokio::test]
async fn an_oversized_request_still_runs_alone() {
    let (batcher, batches) = start(limits(8, 10, 1, 64), Duration::ZERO).await;
    assert_eq!(batcher.call(50, 50).await.unwrap(), 100);
    assert_eq!(*batches.lock().unwrap(), vec![vec![50]]);
}

#[tokio::test]
async fn a_full_queue_is_refused_at_once() {
    let (batcher, _) = start(limits(1, 1000, 0, 2), Duration::from_millis(400)).await;
    let send = |i: u32| {
        let b = batcher.clone();
        tokio::spawn(async move { b.call(i, 1).await })
    };
    // One running (the worker has taken it before the others are sent), two queued.
    let mut pending = vec![send(0)];
    tokio::time::sleep(Duration::from_millis(100)).await;
    pending.extend([send(1), send(2)]);
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Capacity 2 is full: the next is refused without waiting.
    let refused = tokio::time::timeout(Duration::from_millis(50), batcher.call(7, 1))
        .await
        .expect("refusal must not wait");
    assert!(
        matches!(refused, Err(BackendError::Overloaded(_))),
        "{refused:?}"
    );
    for p in pending {
        p.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn a_panicking_batch_fails_its_requests_and_the_worker_lives_on() {
    let (batcher, _) = start(limits(1, 1000, 0, 8), Duration::ZERO).await;
    let failed = batcher.call(13, 1).await;
    assert!(
        matches!(failed, Err(BackendError::Internal(_))),
        "{failed:?}"
    );
    assert_eq!(batcher.call(2, 1).await.unwrap(), 4);
}

#[tokio::test]
async fn withdrawn_requests_are_skipped() {
    let (batcher, batches) = start(limits(1, 1000, 0, 8), Duration::from_millis(200)).await;
    let busy = {
        let b = batcher.clone();
        tokio::spawn(async move { b.call(1, 1).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Queued behind the busy batch, then abandoned before the worker gets to it.
    let _ = tokio::time::timeout(Duration::from_millis(20), batcher.call(2, 1)).await;
    busy.await.unwrap().unwrap();
    assert_eq!(batcher.call(3, 1).await.unwrap(), 6);
    assert_eq!(*batches.lock().unwrap(), vec![vec![1], vec![3]]);
}

#[tokio::test]
async fn a_failed_load_is_the_start_error() {
    let started = Batcher::<u32, u32>::start("broken", BatchLimits::default(), || {
        Err::<Recorder, _>(BackendError::Unavailable("weights missing".into()))
    })
    .await;
    match started {
        Err(BackendError::Unavailable(message)) => assert!(message.contains("weights missing")),
        other => panic!("{:?}", other.err()),
    }
}

#[tokio::test]
async fn a_panicking_load_is_a_start_error_that_says_why() {
    let result =
        Batcher::<u32, u32>::start("test", BatchLimits::default(), || -> Result<Recorder, _> {
            panic!("no CUDA driver found")
        })
        .await;
    match result {
        Err(BackendError::Unavailable(message)) => {
            assert!(message.contains("no CUDA driver found"), "{message}")
        }
        other => panic!("{:?}", other.err()),
    }
}

#[cfg(not(feature = "fault-injection"))]
#[test]
fn a_queued_message_costs_what_a_job_does() {
    // The queue's enum exists for fault injection; without it, it is a job and nothing more.
    assert_eq!(
        std::mem::size_of::<Message<String, u32>>(),
        std::mem::size_of::<Job<String, u32>>()
    );
}
