//! The thread an embedded model lives on: built there (burn's tensors stay on the thread that
//! made them) and served there until its queue closes. Shared by the dynamic batcher and the
//! chat model's continuous batcher.

use omnigate_backend::BackendError;
use std::panic::{AssertUnwindSafe, catch_unwind};
use tokio::sync::oneshot;

/// Starts `omnigate-{name}`: moves `guard` onto it first (so whatever the guard does when
/// dropped happens however the thread ends, a failed load included), builds the model with
/// `load`, then serves with `run`. Returns once loading finished, with its error if it failed.
pub(crate) async fn start<G, M, L, R>(
    name: &str,
    guard: G,
    load: L,
    run: R,
) -> Result<(), BackendError>
where
    G: Send + 'static,
    L: FnOnce() -> Result<M, BackendError> + Send + 'static,
    R: FnOnce(M, &G) + Send + 'static,
{
    let (loaded_tx, loaded) = oneshot::channel();
    std::thread::Builder::new()
        .name(format!("omnigate-{name}"))
        .spawn(move || {
            let guard = guard;
            let model = match catch_unwind(AssertUnwindSafe(load)) {
                Ok(Ok(model)) => model,
                Ok(Err(e)) => return drop(loaded_tx.send(Err(e))),
                // burn panics where a GPU device cannot be opened (no driver, no adapter): its
                // message is the one that tells the operator why.
                Err(payload) => {
                    let e = BackendError::Unavailable(format!(
                        "loading the model panicked: {}",
                        panic_message(payload.as_ref())
                    ));
                    return drop(loaded_tx.send(Err(e)));
                }
            };
            let _ = loaded_tx.send(Ok(()));
            run(model, &guard);
        })
        .map_err(|e| BackendError::Internal(format!("starting the worker thread: {e}")))?;
    loaded
        .await
        .map_err(|_| BackendError::Internal("the worker thread died while loading".into()))?
}

/// A panic's message, when it has one.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}
