//! Tests of the worker's health: an idle or busy worker is healthy, a batch past `wedged_after`
//! is reported wedged and new calls are refused at once, a worker whose thread ended is reported
//! stopped and nothing sent to it waits. Waits on the worker thread are bounded polls, and the
//! stuck batch is a model that blocks until the test releases it, so no test races a timer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::pin::pin;
use std::task::Poll;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use super::tests::{limits, start};
use super::*;

/// Echoes its inputs, but each batch first says it has begun and then blocks until the test
/// releases it: a forward pass that is stuck for exactly as long as the test wants.
struct Gate {
    entered: UnboundedSender<()>,
    release: mpsc::Receiver<()>,
}

impl BatchModel for Gate {
    type Input = u32;
    type Output = u32;
    fn cost(_: &u32) -> usize {
        1
    }
    fn run(&mut self, inputs: Vec<u32>) -> Vec<Result<u32, BackendError>> {
        let _ = self.entered.send(());
        let _ = self.release.recv();
        inputs.into_iter().map(Ok).collect()
    }
}

/// A batcher over a [`Gate`] (one request per batch), with the test's ends of the gate.
struct Gated {
    batcher: Batcher<u32, u32>,
    /// One message each time a batch begins.
    entered: UnboundedReceiver<()>,
    /// One message lets one batch finish.
    release: mpsc::Sender<()>,
}

async fn gated(wedged_after: Duration) -> Gated {
    let (entered_tx, entered) = unbounded_channel();
    let (release, release_rx) = mpsc::channel();
    let limits = BatchLimits {
        wedged_after,
        ..limits(1, 100, 0, 8)
    };
    let batcher = Batcher::start("gated", limits, move || {
        Ok(Gate {
            entered: entered_tx,
            release: release_rx,
        })
    })
    .await
    .unwrap();
    Gated {
        batcher,
        entered,
        release,
    }
}

/// Polls `batcher`'s health until it fails, for at most ~5 s (the worker acts on its own
/// thread), and returns why.
async fn until_unhealthy(batcher: &Batcher<u32, u32>) -> BackendError {
    for _ in 0..1000 {
        if let Err(e) = batcher.health() {
            return e;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the worker stayed healthy");
}

/// The answer of a call that must not wait: it is ready at its first poll.
async fn at_once<T>(call: impl Future<Output = T>) -> T {
    let mut call = pin!(call);
    match futures::poll!(call.as_mut()) {
        Poll::Ready(answer) => answer,
        Poll::Pending => panic!("the call waited instead of being answered at once"),
    }
}

/// A 503 whose message names the model and says `what`.
fn assert_unavailable(error: &BackendError, model: &str, what: &str) {
    match error {
        BackendError::Unavailable(message) => {
            assert!(message.contains(&format!("model `{model}`")), "{message}");
            assert!(message.contains(what), "{message}");
        }
        other => panic!("expected Unavailable ({what}), got {other:?}"),
    }
}

#[tokio::test]
async fn an_idle_worker_is_healthy() {
    let (batcher, _) = start(limits(4, 100, 0, 8), Duration::ZERO).await;
    assert!(batcher.health().is_ok());
    assert_eq!(batcher.call(1, 1).await.unwrap(), 2);
    assert!(batcher.health().is_ok(), "still healthy after a batch");
}

#[tokio::test]
async fn a_batch_within_its_limit_is_busy_not_wedged() {
    let mut gated = gated(Duration::from_secs(120)).await;
    let running = tokio::spawn({
        let batcher = gated.batcher.clone();
        async move { batcher.call(1, 1).await }
    });
    gated.entered.recv().await.unwrap();
    assert!(gated.batcher.health().is_ok(), "busy is healthy");
    gated.release.send(()).unwrap();
    assert_eq!(running.await.unwrap().unwrap(), 1);
}

#[tokio::test]
async fn a_batch_running_past_its_limit_is_reported_wedged_and_refuses_new_work() {
    let mut gated = gated(Duration::from_millis(50)).await;
    assert!(gated.batcher.health().is_ok(), "idle is healthy");
    let stuck = tokio::spawn({
        let batcher = gated.batcher.clone();
        async move { batcher.call(1, 1).await }
    });
    gated.entered.recv().await.unwrap();
    let wedged = until_unhealthy(&gated.batcher).await;
    assert_unavailable(&wedged, "gated", "worker is wedged: one batch has run for");
    // Refused without queueing behind the stuck batch.
    let refused = at_once(gated.batcher.call(2, 1)).await.unwrap_err();
    assert_unavailable(&refused, "gated", "wedged");

    gated.release.send(()).unwrap();
    assert_eq!(stuck.await.unwrap().unwrap(), 1);
    // The worker is idle before it answers, so health is green by the time the answer lands.
    assert!(
        gated.batcher.health().is_ok(),
        "healthy again once the batch ends"
    );
    gated.release.send(()).unwrap();
    assert_eq!(
        gated.batcher.call(3, 1).await.unwrap(),
        3,
        "and serves again"
    );
}

#[tokio::test]
async fn a_worker_whose_thread_ended_is_reported_stopped() {
    // The thread ends normally once every handle is dropped; the health state outlives it.
    let (batcher, _) = start(limits(4, 100, 0, 8), Duration::ZERO).await;
    let health = Arc::clone(&batcher.health);
    drop(batcher);
    for _ in 0..1000 {
        if !health.is_alive() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let err = health.check().unwrap_err();
    assert_unavailable(&err, "test", "worker has stopped");
}

#[cfg(feature = "fault-injection")]
#[tokio::test]
async fn a_killed_idle_worker_is_reported_stopped_and_refuses_calls_at_once() {
    let (batcher, _) = start(limits(4, 100, 0, 8), Duration::ZERO).await;
    assert_eq!(batcher.call(1, 1).await.unwrap(), 2);
    // No request is in flight, so only the dying thread's own lifeline can report it.
    batcher.inject_fault(crate::Fault::KillWorker);
    let dead = until_unhealthy(&batcher).await;
    assert_unavailable(&dead, "test", "worker has stopped");
    let refused = at_once(batcher.call(2, 1)).await.unwrap_err();
    assert_unavailable(&refused, "test", "worker has stopped");
}

#[cfg(feature = "fault-injection")]
#[tokio::test]
async fn a_request_queued_behind_a_dying_worker_is_answered_stopped() {
    let mut gated = gated(Duration::from_secs(120)).await;
    let running = tokio::spawn({
        let batcher = gated.batcher.clone();
        async move { batcher.call(1, 1).await }
    });
    gated.entered.recv().await.unwrap();
    // Queue order: the kill, then a request, both behind the running batch.
    gated.batcher.inject_fault(crate::Fault::KillWorker);
    let mut queued = pin!(gated.batcher.call(2, 1));
    assert!(
        futures::poll!(queued.as_mut()).is_pending(),
        "queued behind the running batch"
    );
    gated.release.send(()).unwrap();
    assert_eq!(
        running.await.unwrap().unwrap(),
        1,
        "the batch in hand finishes"
    );
    let stopped = queued.await.unwrap_err();
    assert_unavailable(&stopped, "gated", "worker has stopped");
    assert_unavailable(
        &gated.batcher.health().unwrap_err(),
        "gated",
        "worker has stopped",
    );
}

#[cfg(feature = "fault-injection")]
#[tokio::test]
async fn an_injected_wedge_is_reported_then_clears() {
    let impatient = BatchLimits {
        wedged_after: Duration::from_millis(20),
        ..limits(4, 100, 0, 8)
    };
    let (batcher, _) = start(impatient, Duration::ZERO).await;
    // The wedge waits for a batch to hang, so the worker is healthy until one comes. It must
    // outlast the threshold by far for the bounded poll below to see it.
    batcher.inject_fault(crate::Fault::Wedge(Duration::from_secs(1)));
    assert!(batcher.health().is_ok());
    let stuck = tokio::spawn({
        let batcher = batcher.clone();
        async move { batcher.call(1, 1).await }
    });
    let wedged = until_unhealthy(&batcher).await;
    assert_unavailable(&wedged, "test", "worker is wedged");
    let refused = at_once(batcher.call(2, 1)).await.unwrap_err();
    assert_unavailable(&refused, "test", "wedged");
    assert_eq!(
        stuck.await.unwrap().unwrap(),
        2,
        "the stuck request is answered"
    );
    assert!(batcher.health().is_ok(), "healthy again once it ends");
}
