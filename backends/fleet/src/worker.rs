//! The worker's side: [`serve`] dials out to NATS, takes requests for its models from their
//! queue groups, runs them on the models' backends, heartbeats, and drains on shutdown.
//!
//! # Saturation
//!
//! NATS gives each message of a queue group to a random member, not the least loaded one, so a
//! worker is only a member while it can take work. Each model's subscription is opened with an
//! allowance equal to the free slots (`UNSUB sid max`, which the server and the client count
//! alike): the server stops delivering once the allowance is used up, without the loss a plain
//! unsubscribe risks (messages in flight when the UNSUB lands would be dropped unseen and only
//! found out by the gateway's timeout). When a slot frees and a model's allowance is used up, a
//! new subscription is opened with the free slots as its allowance. A worker at
//! `max_in_flight` is therefore not subscribed at all: the gateway gets "no responders" at once
//! (and, seeing live heartbeats, reports the fleet busy, a retryable `Overloaded`), rather than
//! a request queued behind busy work. With several models the free slots are offered to each
//! model at once, so more requests than slots can arrive; those are answered `Overloaded`
//! immediately, never queued.

use crate::handler;
use crate::nats::{self, Dial, NatsSettings};
use crate::watch::Heartbeat;
use crate::{FleetError, subjects};
use async_nats::{Client, Message, Subscriber};
use futures::StreamExt;
use futures::stream::{SelectAll, Stream};
use omnigate_backend::{Backend, BackendError};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::task::JoinSet;

/// A model a worker serves, and the backend that runs it.
#[derive(Clone)]
pub struct ServedModel {
    /// The name gateways ask for (their `FleetSettings::model`).
    pub name: String,
    /// What runs it.
    pub backend: Arc<dyn Backend>,
}

/// How a worker joins its fleet.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// How to reach NATS (the worker only dials out).
    pub nats: NatsSettings,
    /// The fleet's subject prefix, e.g. `omnigate`.
    pub subject_prefix: String,
    /// This worker's id (heartbeats, the gateway's fleet view).
    pub worker_id: String,
    /// The device it advertises: `cpu`, `cuda:0`...
    pub device: String,
    /// Requests it runs at once at most, all models together.
    pub max_in_flight: usize,
    /// How often it says it is alive; gateways forget it after three silent intervals.
    pub heartbeat_interval: Duration,
}

/// One model's queue subscription, its messages tagged with the model's index.
struct Tagged {
    index: usize,
    subscriber: Subscriber,
}

impl Stream for Tagged {
    type Item = (usize, Message);

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let index = self.index;
        self.subscriber
            .poll_next_unpin(cx)
            .map(|message| message.map(|m| (index, m)))
    }
}

/// The queue subscriptions, each with what is left of its allowance.
struct Intake {
    client: Client,
    queue: String,
    subjects: Vec<String>,
    /// Messages each model's current subscription may still deliver; 0: not subscribed.
    remaining: Vec<usize>,
    streams: SelectAll<Tagged>,
}

impl Intake {
    /// Subscribes every model whose allowance is used up, with `free` as the new allowance.
    async fn open(&mut self, free: usize) -> Result<(), FleetError> {
        if free == 0 {
            return Ok(());
        }
        for index in 0..self.subjects.len() {
            if self.remaining[index] > 0 {
                continue;
            }
            let nats_error = |e: &dyn std::error::Error| FleetError::Nats(e.to_string());
            let mut subscriber = self
                .client
                .queue_subscribe(self.subjects[index].clone(), self.queue.clone())
                .await
                .map_err(|e| nats_error(&e))?;
            subscriber
                .unsubscribe_after(free as u64)
                .await
                .map_err(|e| nats_error(&e))?;
            self.remaining[index] = free;
            self.streams.push(Tagged { index, subscriber });
        }
        Ok(())
    }

    /// Counts a message taken from model `index`'s subscription.
    fn taken(&mut self, index: usize) {
        self.remaining[index] = self.remaining[index].saturating_sub(1);
    }

    /// Stops taking work: every subscription is drained (what is already on its way is still
    /// delivered), then ends.
    async fn drain(&mut self) {
        for tagged in self.streams.iter_mut() {
            let _ = tagged.subscriber.drain().await;
        }
        self.remaining.iter_mut().for_each(|r| *r = 0);
    }
}

fn check(settings: &WorkerSettings, models: &[ServedModel]) -> Result<(), FleetError> {
    subjects::check_prefix(&settings.subject_prefix).map_err(FleetError::Settings)?;
    let problem = if models.is_empty() {
        Some("a worker needs at least one model".to_owned())
    } else if models.iter().any(|m| m.name.is_empty()) {
        Some("a model name is empty".to_owned())
    } else if (1..models.len()).any(|i| models[..i].iter().any(|m| m.name == models[i].name)) {
        Some("a model is listed twice".to_owned())
    } else if settings.worker_id.is_empty() {
        Some("worker_id is empty".to_owned())
    } else if settings.max_in_flight == 0 {
        Some("max_in_flight is 0".to_owned())
    } else if settings.heartbeat_interval < Duration::from_millis(10) {
        Some("heartbeat_interval is under 10 ms".to_owned())
    } else {
        None
    };
    problem.map_or(Ok(()), |why| Err(FleetError::Settings(why)))
}

/// Runs a worker until `shutdown` resolves, then drains: it stops taking requests, finishes
/// those in flight (streams included), sends a last heartbeat with `draining: true`, and returns.
///
/// Fails at once when NATS cannot be reached (within the connect timeout) or the settings
/// cannot work; once connected it reconnects by itself for as long as it runs.
pub async fn serve(
    settings: WorkerSettings,
    models: Vec<ServedModel>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), FleetError> {
    check(&settings, &models)?;
    let client = nats::connect(&settings.nats, Dial::Once).await?;
    let mut intake = Intake {
        client: client.clone(),
        queue: subjects::queue_group(&settings.subject_prefix),
        subjects: models
            .iter()
            .map(|m| subjects::request_subject(&settings.subject_prefix, &m.name))
            .collect(),
        remaining: vec![0; models.len()],
        streams: SelectAll::new(),
    };
    let mut beat = Heartbeat {
        id: settings.worker_id.clone(),
        models: models.iter().map(|m| m.name.clone()).collect(),
        device: settings.device.clone(),
        max_in_flight: settings.max_in_flight,
        in_flight: 0,
        served: 0,
        draining: false,
        interval_ms: u64::try_from(settings.heartbeat_interval.as_millis()).unwrap_or(u64::MAX),
    };
    let heartbeat_subject = subjects::heartbeat_subject(&settings.subject_prefix);
    let send_beat = |beat: &Heartbeat| {
        let client = client.clone();
        let subject = heartbeat_subject.clone();
        let payload = serde_json::to_vec(beat).unwrap_or_default();
        async move {
            if let Err(e) = client.publish(subject, payload.into()).await {
                tracing::warn!(target: "omnigate_fleet", "cannot send a heartbeat: {e}");
            }
        }
    };
    let mut free = settings.max_in_flight;
    // Subscriptions first, then the heartbeat: a gateway that hears the worker finds it subscribed.
    intake.open(free).await?;
    send_beat(&beat).await;
    let mut requests = JoinSet::new();
    let mut refusals = JoinSet::new();
    let mut ticker = tokio::time::interval(settings.heartbeat_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        if beat.draining && requests.is_empty() && intake.streams.is_empty() {
            break;
        }
        tokio::select! {
            () = &mut shutdown, if !beat.draining => {
                tracing::info!(target: "omnigate_fleet", "draining: finishing {} requests", requests.len());
                beat.draining = true;
                intake.drain().await;
                send_beat(&beat).await;
            }
            Some(joined) = requests.join_next(), if !requests.is_empty() => {
                if let Err(e) = joined {
                    tracing::error!(target: "omnigate_fleet", "a request handler failed: {e}");
                }
                free += 1;
                beat.served += 1;
                if !beat.draining {
                    intake.open(free).await?;
                }
            }
            Some(_) = refusals.join_next(), if !refusals.is_empty() => {}
            Some((index, message)) = intake.streams.next(), if !intake.streams.is_empty() => {
                intake.taken(index);
                if free > 0 {
                    free -= 1;
                    let backend = models[index].backend.clone();
                    requests.spawn(handler::serve(client.clone(), backend, message));
                    if !beat.draining {
                        intake.open(free).await?;
                    }
                } else {
                    let busy = BackendError::Overloaded(format!(
                        "worker {} is at its max_in_flight of {}",
                        settings.worker_id, settings.max_in_flight
                    ));
                    refusals.spawn(handler::refuse(client.clone(), message, busy));
                }
            }
            _ = ticker.tick() => {
                beat.in_flight = settings.max_in_flight - free;
                send_beat(&beat).await;
            }
        }
        beat.in_flight = settings.max_in_flight - free;
    }
    while refusals.join_next().await.is_some() {}
    send_beat(&beat).await;
    client
        .flush()
        .await
        .map_err(|e| FleetError::Nats(nats::error_chain(&e)))?;
    Ok(())
}
