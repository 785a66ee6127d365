//! The gateway's view of the fleet, fed by the workers' heartbeats on `{prefix}.heartbeat`:
//! who is online, what each serves, how busy it is. A worker silent for more than three of its
//! own heartbeat intervals is dropped from the view.

use crate::nats::{self, Dial, NatsSettings};
use crate::{FleetError, subjects, telemetry};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// A heartbeat as workers publish it (JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Heartbeat {
    pub id: String,
    pub models: Vec<String>,
    pub device: String,
    pub max_in_flight: usize,
    pub in_flight: usize,
    pub served: u64,
    pub draining: bool,
    pub interval_ms: u64,
}

/// Heartbeats larger than this are ignored.
const MAX_HEARTBEAT_BYTES: usize = 64 * 1024;
/// Workers remembered at most (a flood of made-up ids cannot grow the roster without bound).
const MAX_WORKERS: usize = 10_000;

impl Heartbeat {
    /// How long after this heartbeat the worker counts as gone.
    fn stale_after(&self) -> Duration {
        Duration::from_millis(self.interval_ms.clamp(10, 3_600_000)) * 3
    }
}

/// What a worker said last, and when.
#[derive(Debug, Default)]
pub(crate) struct Roster {
    seen: Mutex<HashMap<String, (Heartbeat, Instant)>>,
}

impl Roster {
    fn record(&self, beat: Heartbeat) {
        telemetry::worker(&beat.id, beat.served, beat.in_flight);
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if !seen.contains_key(&beat.id) && seen.len() >= MAX_WORKERS {
            let now = Instant::now();
            seen.retain(|_, (b, at)| now.duration_since(*at) <= b.stale_after());
            if seen.len() >= MAX_WORKERS {
                return;
            }
        }
        seen.insert(beat.id.clone(), (beat, Instant::now()));
    }

    /// Workers heard from recently, with the time since their last heartbeat; forgets the rest.
    pub(crate) fn fresh(&self) -> Vec<(Heartbeat, Duration)> {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        seen.retain(|_, (b, at)| now.duration_since(*at) <= b.stale_after());
        seen.values()
            .map(|(b, at)| (b.clone(), now.duration_since(*at)))
            .collect()
    }

    /// How many recently heard, non-draining workers serve `model`.
    pub(crate) fn serving(&self, model: &str) -> usize {
        self.fresh()
            .iter()
            .filter(|(b, _)| !b.draining && b.models.iter().any(|m| m == model))
            .count()
    }
}

/// Aborts a background task when dropped.
#[derive(Debug)]
pub(crate) struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Subscribes to the fleet's heartbeats and keeps `roster` up to date in the background; with
/// `gauge`, also sets `omnigate_fleet_workers_online` every second.
pub(crate) async fn listen(
    client: &async_nats::Client,
    prefix: &str,
    roster: Arc<Roster>,
    gauge: bool,
) -> Result<AbortOnDrop, FleetError> {
    let mut beats = client
        .subscribe(subjects::heartbeat_subject(prefix))
        .await
        .map_err(|e| FleetError::Nats(nats::error_chain(&e)))?;
    let prefix = prefix.to_owned();
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                message = beats.next() => {
                    let Some(message) = message else { return };
                    if message.payload.len() > MAX_HEARTBEAT_BYTES {
                        continue;
                    }
                    match serde_json::from_slice::<Heartbeat>(&message.payload) {
                        Ok(beat) => roster.record(beat),
                        Err(e) => tracing::debug!(target: "omnigate_fleet", "ignored a malformed heartbeat: {e}"),
                    }
                }
                _ = tick.tick(), if gauge => {
                    telemetry::workers_online(&prefix, roster.fresh().len());
                }
            }
        }
    });
    Ok(AbortOnDrop(task))
}

/// One worker as the gateway last heard of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkerStatus {
    /// Its id.
    pub id: String,
    /// The models it serves.
    pub models: Vec<String>,
    /// The device it advertises (`cpu`, `cuda:0`...).
    pub device: String,
    /// Requests it runs at once at most.
    pub max_in_flight: usize,
    /// Requests it was running at its last heartbeat.
    pub in_flight: usize,
    /// Requests it has finished since it started.
    pub served: u64,
    /// Seconds since its last heartbeat.
    pub seconds_since_heartbeat: f64,
    /// Whether it is shutting down (finishing its work, taking none).
    pub draining: bool,
}

/// The gateway's view of a fleet, fed by heartbeats (for the admin API and readiness).
#[derive(Debug)]
pub struct FleetWatch {
    roster: Arc<Roster>,
    prefix: String,
    _listener: AbortOnDrop,
    _client: async_nats::Client,
}

impl FleetWatch {
    /// Starts listening to the heartbeats of the fleet under `subject_prefix`. Returns at once,
    /// even while NATS is unreachable (it connects in the background); fails only on settings
    /// that cannot work.
    pub async fn start(nats: NatsSettings, subject_prefix: String) -> Result<Self, FleetError> {
        subjects::check_prefix(&subject_prefix).map_err(FleetError::Settings)?;
        let client = nats::connect(&nats, Dial::KeepTrying).await?;
        let roster = Arc::new(Roster::default());
        let listener = listen(&client, &subject_prefix, roster.clone(), true).await?;
        Ok(Self {
            roster,
            prefix: subject_prefix,
            _listener: listener,
            _client: client,
        })
    }

    /// Workers heard from within three of their heartbeat intervals, sorted by id.
    pub fn workers(&self) -> Vec<WorkerStatus> {
        let fresh = self.roster.fresh();
        telemetry::workers_online(&self.prefix, fresh.len());
        let mut workers: Vec<WorkerStatus> = fresh
            .into_iter()
            .map(|(b, since)| WorkerStatus {
                id: b.id,
                models: b.models,
                device: b.device,
                max_in_flight: b.max_in_flight,
                in_flight: b.in_flight,
                served: b.served,
                seconds_since_heartbeat: since.as_secs_f64(),
                draining: b.draining,
            })
            .collect();
        workers.sort_by(|a, b| a.id.cmp(&b.id));
        workers
    }
}
