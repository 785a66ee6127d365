//! Settlement off the request's path: requests that ended are queued here and written to the
//! store in batches, one round trip per batch (`TenantStore::settle_many`), whatever the load:
//! under load a batch gathers everything that ended while the previous one was on its way; when
//! quiet, a short linger lets a few gather. What the store cannot take (it is away, or the request
//! was admitted locally under `fail_open`) is kept and written by `reconcile` once it answers.

use crate::memory::MemoryStore;
use crate::store::{Settlement, Spend, StoreError, TenantStore};
use crate::usage::UsageRecord;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Most settlements written in one round trip.
const MAX_BATCH: usize = 512;
/// How long a lone settlement waits for company when it frees a concurrency slot (another
/// request of the key may be waiting for it)...
const LINGER_RELEASE: Duration = Duration::from_millis(2);
/// ...and when it only corrects tokens and adds usage and spend, which may wait longer: at low
/// rates this is what makes a batch out of several requests, one round trip for all.
const LINGER: Duration = Duration::from_millis(20);

/// What the settler is sent.
#[allow(
    clippy::large_enum_variant,
    reason = "nearly every message is a Settle; boxing it would cost an allocation a request"
)]
pub(crate) enum Message {
    /// A request to settle; `degraded`: it was admitted without the store.
    Settle {
        settlement: Settlement,
        degraded: bool,
    },
    /// Answered once everything sent before it has been written (or kept): for tests and a
    /// graceful shutdown.
    Flush(oneshot::Sender<()>),
}

/// The queue's sending side.
#[derive(Clone)]
pub(crate) struct Settler {
    sender: mpsc::UnboundedSender<Message>,
}

impl Settler {
    /// Starts the settler on the current runtime; `None` outside one.
    pub(crate) fn start(
        store: Arc<dyn TenantStore>,
        timeout: Duration,
        store_down: Arc<AtomicBool>,
    ) -> Option<Self> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let (sender, receiver) = mpsc::unbounded_channel();
        runtime.spawn(run(store, timeout, store_down, receiver));
        Some(Self { sender })
    }

    /// A settler with no task behind it (no runtime to run one): what it is sent is dropped.
    pub(crate) fn closed() -> Self {
        let (sender, _) = mpsc::unbounded_channel();
        Self { sender }
    }

    /// Queues a message (dropped if the settler is gone: the runtime is shutting down).
    pub(crate) fn send(&self, message: Message) {
        let _ = self.sender.send(message);
    }
}

/// Usage and spend the store has not taken yet.
#[derive(Default)]
struct Pending {
    spend: Vec<Spend>,
    records: Vec<UsageRecord>,
}

/// Usage records kept through an outage before the oldest are dropped (bounded memory; the
/// drop is logged).
const MAX_PENDING: usize = 100_000;

impl Pending {
    fn keep(&mut self, settlement: Settlement) {
        self.spend.extend(settlement.spend);
        if self.records.len() >= MAX_PENDING {
            let dropped = self.records.len() / 2;
            self.records.drain(..dropped);
            tracing::error!(
                dropped,
                "the state store has been away too long: oldest usage records dropped"
            );
        }
        self.records.extend(settlement.usage);
    }
}

async fn run(
    store: Arc<dyn TenantStore>,
    timeout: Duration,
    store_down: Arc<AtomicBool>,
    mut receiver: mpsc::UnboundedReceiver<Message>,
) {
    let mut pending = Pending::default();
    let mut batch = Vec::new();
    let mut flushes = Vec::new();
    while let Some(first) = receiver.recv().await {
        let linger = match &first {
            Message::Settle { settlement, .. } if settlement.releases.is_empty() => Some(LINGER),
            Message::Settle { .. } => Some(LINGER_RELEASE),
            Message::Flush(_) => None,
        };
        let mut next = Some(first);
        if let Some(linger) = linger
            && receiver.is_empty()
        {
            tokio::time::sleep(linger).await;
        }
        while let Some(message) = next.take() {
            match message {
                Message::Settle {
                    settlement,
                    degraded: true,
                } => pending.keep(settlement),
                Message::Settle { settlement, .. } => batch.push(settlement),
                Message::Flush(done) => flushes.push(done),
            }
            if batch.len() < MAX_BATCH {
                next = receiver.try_recv().ok();
            }
        }
        let answered = write(&*store, timeout, &mut batch, &mut pending).await;
        store_down.store(!answered, Ordering::Relaxed);
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
}

/// Writes `batch` (emptying it), then what was pending if the store answered; returns whether
/// it did. What it could not write is kept in `pending` (the corrections and lease releases of a
/// failed batch are not: the window's estimate stands and the lease lapses after `lease_secs`).
async fn write(
    store: &dyn TenantStore,
    timeout: Duration,
    batch: &mut Vec<Settlement>,
    pending: &mut Pending,
) -> bool {
    if !batch.is_empty() {
        if let Err(err) = bounded(timeout, store.settle_many(batch)).await {
            tracing::warn!(error = %err, requests = batch.len(), "usage kept locally until the state store is back");
            for settlement in batch.drain(..) {
                pending.keep(settlement);
            }
            return false;
        }
        batch.clear();
    }
    if pending.records.is_empty() && pending.spend.is_empty() {
        return true;
    }
    match bounded(timeout, store.reconcile(&pending.spend, &pending.records)).await {
        Ok(()) => {
            tracing::info!(
                records = pending.records.len(),
                "usage counted during a store outage reconciled"
            );
            *pending = Pending::default();
            true
        }
        Err(err) => {
            tracing::warn!(error = %err, "reconciling local usage failed; will retry");
            false
        }
    }
}

async fn bounded<T>(
    timeout: Duration,
    call: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(timeout, call).await {
        Ok(result) => result,
        Err(_) => Err(StoreError::Unavailable(format!(
            "no answer within {timeout:?}"
        ))),
    }
}

/// Settles `settlement` against the local memory store at once (a request admitted there).
pub(crate) fn settle_locally(local: &MemoryStore, settlement: &Settlement) {
    local.settle_now(settlement);
}
