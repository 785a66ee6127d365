//! The media decode pool: decoders run on tokio's blocking pool, at most `decode_concurrency`
//! at once across all requests, each within the decode deadline (the wait for a slot
//! included), and a decoder that panics on a file is that file's 422, not a crash. Work that can
//! use several cores (a video's keyframe runs) also takes the slots nobody is using right then,
//! one thread per slot, so the pool's bound on threads (and on memory) holds all the same.

use super::error::{MediaProblem, NormalizeError};
use super::error::{from_media, media};
use omnigate_config::MediaConfig;
use omnigate_media::MediaError;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// Decode slots and the per-item deadline, shared by every request.
pub(crate) struct DecodePool {
    slots: Arc<Semaphore>,
    /// How many slots there are.
    capacity: usize,
    /// Items waiting for a slot now (for `/metrics`).
    waiting: AtomicUsize,
    deadline: Duration,
}

/// How busy the decode pool is, now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLoad {
    /// Decode slots (`media.decode_concurrency`).
    pub slots: usize,
    /// Slots in use.
    pub busy: usize,
    /// Items waiting for a slot.
    pub waiting: usize,
}

/// Counts an item as waiting for a slot until dropped (acquired, timed out or cancelled).
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl DecodePool {
    /// `decode_concurrency` slots (0 = one per CPU) and `decode_timeout_secs` from `[media]`.
    pub(crate) fn new(config: &MediaConfig) -> Self {
        let slots = match config.decode_concurrency {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        Self {
            slots: Arc::new(Semaphore::new(slots)),
            capacity: slots,
            waiting: AtomicUsize::new(0),
            deadline: Duration::from_secs_f64(config.decode_timeout_secs),
        }
    }

    /// How busy it is now.
    pub(crate) fn load(&self) -> DecodeLoad {
        DecodeLoad {
            slots: self.capacity,
            busy: self.capacity.saturating_sub(self.slots.available_permits()),
            waiting: self.waiting.load(Ordering::Relaxed),
        }
    }

    /// Runs a decoder on the blocking pool, at most `decode_concurrency` at once, within the
    /// decode deadline (the wait for a slot included).
    pub(crate) async fn run<T, F>(&self, param: &str, work: F) -> Result<T, NormalizeError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, MediaError> + Send + 'static,
    {
        self.run_with(param, work, from_media).await
    }

    /// [`Self::run`] for work with its own error type, mapped by `to_api`.
    pub(crate) async fn run_with<T, E, F>(
        &self,
        param: &str,
        work: F,
        to_api: fn(E, &str) -> NormalizeError,
    ) -> Result<T, NormalizeError>
    where
        T: Send + 'static,
        E: Send + 'static,
        F: FnOnce() -> Result<T, E> + Send + 'static,
    {
        self.run_wide_with(param, 0, move |_| work(), to_api).await
    }

    /// [`Self::run_with`] for work that can use up to `1 + extra` threads: once it has its own
    /// slot it also takes up to `extra` more that are free at that moment (never waiting for
    /// them, so it queues no later than before), holds them until it ends, and is told how many
    /// slots it holds in all.
    pub(crate) async fn run_wide_with<T, E, F>(
        &self,
        param: &str,
        extra: usize,
        work: F,
        to_api: fn(E, &str) -> NormalizeError,
    ) -> Result<T, NormalizeError>
    where
        T: Send + 'static,
        E: Send + 'static,
        F: FnOnce(usize) -> Result<T, E> + Send + 'static,
    {
        let limit = self.deadline;
        let deadline = Instant::now() + limit;
        let waiting = Waiting::new(&self.waiting);
        let mut permit = tokio::time::timeout_at(deadline, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| {
                NormalizeError::Busy("All media decoders are busy; retry shortly.".to_owned())
            })?
            .map_err(|_| NormalizeError::Internal("media decode pool closed".to_owned()))?;
        drop(waiting);
        // The slots free right now, merged into one permit that holds them all.
        while permit.num_permits() <= extra {
            match self.slots.clone().try_acquire_owned() {
                Ok(more) => permit.merge(more),
                Err(_) => break,
            }
        }
        let span = tracing::Span::current();
        let task = tokio::task::spawn_blocking(move || {
            let slots = permit.num_permits();
            let _permit = permit;
            span.in_scope(|| work(slots))
        });
        match tokio::time::timeout_at(deadline, task).await {
            Err(_) => Err(media(
                MediaProblem::Undecodable,
                param,
                "media_decode_timeout",
                format!(
                    "{param}: decoding took longer than the limit of {}",
                    human_duration(limit)
                ),
            )),
            // A decoder that panics did so on this file's bytes (fuzzing found such inputs in
            // third-party codecs): the file is at fault, and the worker thread survives.
            Ok(Err(join)) if join.is_panic() => {
                tracing::warn!(%param, "media decoder panicked on this input");
                Err(media(
                    MediaProblem::Undecodable,
                    param,
                    "media_decoder_failed",
                    format!("{param}: the file could not be decoded (the decoder failed on it)"),
                ))
            }
            Ok(Err(join)) => Err(NormalizeError::Internal(format!(
                "media decoder stopped: {join}"
            ))),
            Ok(Ok(result)) => result.map_err(|e| to_api(e, param)),
        }
    }
}

/// `30 s`, or `250 ms` below a second.
fn human_duration(limit: Duration) -> String {
    if limit >= Duration::from_secs(1) {
        format!("{:.0} s", limit.as_secs_f64())
    } else {
        format!("{} ms", limit.as_millis().max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> DecodePool {
        DecodePool::new(&MediaConfig::default())
    }

    fn to_api(message: String, param: &str) -> NormalizeError {
        NormalizeError::invalid(message, Some(param))
    }

    #[tokio::test]
    async fn a_decoder_that_panics_on_a_file_is_a_422_naming_the_part() {
        let work = || -> Result<(), String> { std::panic::panic_any("codec bug") };
        let err = pool()
            .run_with("messages[0].content[1]", work, to_api)
            .await
            .err()
            .unwrap_or_else(|| unreachable!("the panic was not reported"));
        assert!(
            matches!(
                err,
                NormalizeError::Item {
                    problem: MediaProblem::Undecodable,
                    ..
                }
            ),
            "{err:?}"
        );
        let body = format!("{err:?}");
        assert!(body.contains("media_decoder_failed"), "{body}");
        assert!(body.contains("messages[0].content[1]"), "{body}");
    }

    /// A pool of `slots` decode slots, otherwise configured by default.
    fn pool_of(slots: usize) -> Arc<DecodePool> {
        let config = MediaConfig {
            decode_concurrency: slots,
            ..MediaConfig::default()
        };
        Arc::new(DecodePool::new(&config))
    }

    /// An item that holds a slot until the sender is used (or dropped).
    fn hold_a_slot(
        pool: &Arc<DecodePool>,
    ) -> (
        std::sync::mpsc::Sender<()>,
        tokio::task::JoinHandle<Result<(), NormalizeError>>,
    ) {
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let pool = Arc::clone(pool);
        let task = tokio::spawn(async move {
            pool.run_with("a", move || hold.recv().map_err(|e| e.to_string()), to_api)
                .await
        });
        (release, task)
    }

    /// Polls the pool's load until `ready` says so (at most a second).
    async fn wait_for(pool: &DecodePool, ready: impl Fn(DecodeLoad) -> bool) {
        for _ in 0..500 {
            if ready(pool.load()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    #[tokio::test]
    async fn load_counts_busy_slots_and_items_waiting_for_one() {
        let pool = pool_of(1);
        let idle = DecodeLoad {
            slots: 1,
            busy: 0,
            waiting: 0,
        };
        assert_eq!(pool.load(), idle);
        let (release, first) = hold_a_slot(&pool);
        let second = {
            let pool = Arc::clone(&pool);
            tokio::spawn(async move { pool.run_with("b", || Ok::<_, String>(()), to_api).await })
        };
        let busy = DecodeLoad {
            slots: 1,
            busy: 1,
            waiting: 1,
        };
        wait_for(&pool, |load| load == busy).await;
        assert_eq!(pool.load(), busy);
        release.send(()).unwrap();
        assert!(first.await.unwrap().is_ok());
        assert!(second.await.unwrap().is_ok());
        assert_eq!(pool.load(), idle);
    }

    #[tokio::test]
    async fn wide_work_takes_only_the_slots_that_are_free() {
        let pool = pool_of(3);
        // Alone, it gets its slot and up to `extra` more, and gives them all back.
        let slots = pool.run_wide_with("v", 8, Ok::<_, String>, to_api).await;
        assert_eq!(slots.ok(), Some(3));
        let slots = pool.run_wide_with("v", 1, Ok::<_, String>, to_api).await;
        assert_eq!(slots.ok(), Some(2));
        assert_eq!(pool.load().busy, 0);
        // Beside an item holding one slot, it takes the two left.
        let (release, first) = hold_a_slot(&pool);
        wait_for(&pool, |load| load.busy == 1).await;
        let slots = pool.run_wide_with("v", 8, Ok::<_, String>, to_api).await;
        assert_eq!(slots.ok(), Some(2));
        release.send(()).unwrap();
        assert!(first.await.unwrap().is_ok());
        assert_eq!(pool.load().busy, 0);
    }

    #[test]
    fn limits_read_naturally() {
        assert_eq!(human_duration(Duration::from_secs(30)), "30 s");
        assert_eq!(human_duration(Duration::from_millis(1)), "1 ms");
        assert_eq!(human_duration(Duration::from_micros(10)), "1 ms");
    }

    #[tokio::test]
    async fn decoder_errors_go_through_the_callers_mapping() {
        let err = pool()
            .run_with("p", || Err::<(), _>("bad bytes".to_owned()), to_api)
            .await
            .err()
            .unwrap_or_else(|| unreachable!("the error was not reported"));
        assert!(
            matches!(err, NormalizeError::InvalidRequest { .. }),
            "{err:?}"
        );
    }
}
