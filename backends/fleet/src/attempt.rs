//! One attempt at a request, gateway side: a fresh inbox, the offer, the upload of a large body,
//! and every frame that comes back checked (version, attempt id, sequence number, size) before
//! anything reads it. Dropping an unfinished attempt unsubscribes its inbox (a late answer goes
//! nowhere) and tells the worker to stop.

use crate::protocol::{
    self, Call, ControlHead, ControlKind, FrameHead, FrameKind, HEAD_ROOM, OfferHead,
    ProtocolError, UPLOAD_WINDOW, Upload,
};
use crate::watch::Roster;
use crate::{nats, telemetry};
use async_nats::{Client, StatusCode, Subscriber};
use bytes::Bytes;
use futures::StreamExt;
use omnigate_backend::BackendError;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The largest request body the fleet carries (decoded video as tensors can be large).
pub(crate) const MAX_REQUEST_BYTES: usize = 256 << 20;
/// The largest answer document the gateway accepts from a worker.
pub(crate) const MAX_ANSWER_BYTES: usize = 64 << 20;
/// The largest single stream item (one chat chunk, one transcript delta).
pub(crate) const MAX_STREAM_ITEM_BYTES: usize = 1 << 20;

/// What every attempt of one backend shares.
#[derive(Debug)]
pub(crate) struct Link {
    pub client: Client,
    /// `{prefix}.req.{token(model)}`.
    pub subject: String,
    pub model: Arc<str>,
    pub per_try: Duration,
    pub roster: Arc<Roster>,
    /// The NATS URL without credentials, for messages.
    pub url: String,
}

/// An attempt in progress.
pub(crate) struct Attempt {
    client: Client,
    inbox: Subscriber,
    /// The inbox subject: the id every frame of this attempt must carry.
    id: String,
    next_seq: u64,
    control: Option<String>,
    per_try: Duration,
    /// The model, for the worker-lost metric.
    model: Arc<str>,
    /// The worker sent `End` or `Error`: nothing to cancel.
    finished: bool,
}

fn bad(message: impl Into<String>) -> BackendError {
    BackendError::BadResponse(message.into())
}

fn unexpected(kind: &FrameKind, when: &str) -> BackendError {
    bad(format!("worker sent a {kind:?} frame {when}"))
}

impl Attempt {
    /// Offers `body` to the workers of the link's model and waits until one takes it (and has
    /// received all of it). `deadline` bounds the whole start.
    pub(crate) async fn start(
        link: &Link,
        call: Call,
        body: Vec<u8>,
        deadline: Instant,
    ) -> Result<Self, BackendError> {
        if !nats::is_connected(&link.client) {
            return Err(BackendError::Unavailable(format!(
                "not connected to NATS at {}",
                link.url
            )));
        }
        if body.len() > MAX_REQUEST_BYTES {
            return Err(BackendError::Rejected {
                status: 413,
                message: format!(
                    "the request is {} MiB; a fleet carries at most {} MiB",
                    body.len() >> 20,
                    MAX_REQUEST_BYTES >> 20
                ),
                param: None,
            });
        }
        let room = link
            .client
            .max_payload()
            .saturating_sub(HEAD_ROOM)
            .max(1024);
        let upload = (body.len() > room).then(|| Upload {
            total: body.len() as u64,
            chunks: u32::try_from(body.len().div_ceil(room)).unwrap_or(u32::MAX),
        });
        let id = link.client.new_inbox();
        let inbox =
            link.client.subscribe(id.clone()).await.map_err(|e| {
                BackendError::Unavailable(format!("NATS: {}", nats::error_chain(&e)))
            })?;
        let head = OfferHead {
            call,
            timeout_ms: u64::try_from(link.per_try.as_millis()).unwrap_or(u64::MAX),
            upload,
        };
        let inline: &[u8] = if upload.is_some() { &[] } else { &body };
        link.client
            .publish_with_reply(
                link.subject.clone(),
                id.clone(),
                protocol::encode(&head, inline),
            )
            .await
            .map_err(|e| BackendError::Unavailable(format!("NATS: {}", nats::error_chain(&e))))?;
        let mut attempt = Self {
            client: link.client.clone(),
            inbox,
            id,
            next_seq: 0,
            control: None,
            per_try: link.per_try,
            model: Arc::clone(&link.model),
            finished: false,
        };
        match attempt.next(deadline).await {
            Ok((FrameKind::Taken { control }, _)) => attempt.control = Some(control),
            Ok((FrameKind::Error(err), _)) => return Err(err.into()),
            Ok((kind, _)) => return Err(unexpected(&kind, "before taking the request")),
            Err(Failure::NoResponders) => {
                telemetry::no_responders(&link.model);
                attempt.finished = true;
                return Err(no_responders(link));
            }
            Err(Failure::Backend(err)) => return Err(err),
        }
        if let Some(upload) = upload {
            attempt.upload(&body, room, upload, deadline).await?;
        }
        Ok(attempt)
    }

    async fn upload(
        &mut self,
        body: &[u8],
        room: usize,
        upload: Upload,
        deadline: Instant,
    ) -> Result<(), BackendError> {
        let Some(control) = self.control.clone() else {
            return Err(bad("worker gave no control subject"));
        };
        for (index, chunk) in (0..upload.chunks).zip(body.chunks(room)) {
            if index > 0 && index % UPLOAD_WINDOW == 0 {
                match self.frame(deadline).await? {
                    (FrameKind::Ack { next }, _) if next == index => {}
                    (FrameKind::Error(err), _) => return Err(err.into()),
                    (kind, _) => return Err(unexpected(&kind, "during the upload")),
                }
            }
            let head = ControlHead {
                id: self.id.clone(),
                kind: ControlKind::Chunk { index },
            };
            self.client
                .publish(control.clone(), protocol::encode(&head, chunk))
                .await
                .map_err(|e| {
                    BackendError::Unavailable(format!("NATS: {}", nats::error_chain(&e)))
                })?;
        }
        Ok(())
    }

    /// The next frame of this attempt, by `deadline`.
    pub(crate) async fn frame(
        &mut self,
        deadline: Instant,
    ) -> Result<(FrameKind, Bytes), BackendError> {
        self.next(deadline).await.map_err(|failure| match failure {
            Failure::NoResponders => bad("a NATS status arrived after the worker answered"),
            Failure::Backend(err) => err,
        })
    }

    /// The next frame, by the per-try timeout from now.
    pub(crate) async fn frame_in_time(&mut self) -> Result<(FrameKind, Bytes), BackendError> {
        let deadline = Instant::now() + self.per_try;
        self.frame(deadline).await
    }

    async fn next(&mut self, deadline: Instant) -> Result<(FrameKind, Bytes), Failure> {
        let max_payload = self.client.max_payload();
        loop {
            let message = match tokio::time::timeout_at(deadline, self.inbox.next()).await {
                Err(_) => {
                    // A worker that took the request and then fell silent has most likely
                    // vanished: the router retries elsewhere; count it.
                    if self.control.is_some() {
                        telemetry::worker_lost(&self.model);
                    }
                    return Err(BackendError::Timeout(self.per_try).into());
                }
                Ok(None) => {
                    return Err(
                        BackendError::Unavailable("the NATS connection closed".into()).into(),
                    );
                }
                Ok(Some(message)) => message,
            };
            if let Some(status) = message.status {
                if status == StatusCode::NO_RESPONDERS && self.next_seq == 0 {
                    return Err(Failure::NoResponders);
                }
                return Err(bad(format!("NATS status {status} on the reply inbox")).into());
            }
            if message.payload.len() > max_payload {
                return Err(bad(format!(
                    "worker sent a {}-byte message, over the server's max_payload of {max_payload}",
                    message.payload.len()
                ))
                .into());
            }
            let (head, data) = match protocol::decode::<FrameHead>(&message.payload) {
                Ok(frame) => frame,
                Err(ProtocolError::Version(v)) => {
                    return Err(bad(format!(
                        "the worker speaks fleet protocol v{v}, this gateway v{}: run the same \
                         version on both sides",
                        protocol::PROTOCOL_VERSION
                    ))
                    .into());
                }
                Err(err) => return Err(bad(err.to_string()).into()),
            };
            if head.id != self.id {
                // Meant for another attempt: not ours to read, and not a reason to fail ours.
                tracing::debug!(target: "omnigate_fleet", "ignored a frame for another request");
                continue;
            }
            if head.seq != self.next_seq {
                return Err(bad(format!(
                    "frame {} arrived where frame {} was due (a gap, a duplicate or reordering)",
                    head.seq, self.next_seq
                ))
                .into());
            }
            self.next_seq += 1;
            if matches!(head.kind, FrameKind::End | FrameKind::Error(_)) {
                self.finished = true;
            }
            return Ok((head.kind, data));
        }
    }

    /// Reads a whole answer document (`Part`s up to `End`) by `deadline`.
    pub(crate) async fn document(&mut self, deadline: Instant) -> Result<Bytes, BackendError> {
        let mut parts: Vec<Bytes> = Vec::new();
        let mut size = 0usize;
        loop {
            match self.frame(deadline).await? {
                (FrameKind::Part, data) => {
                    size += data.len();
                    if size > MAX_ANSWER_BYTES {
                        return Err(bad(format!(
                            "worker's answer exceeds {} MiB",
                            MAX_ANSWER_BYTES >> 20
                        )));
                    }
                    parts.push(data);
                }
                (FrameKind::End, _) => {
                    return Ok(match parts.len() {
                        1 => parts.pop().unwrap_or_default(),
                        _ => Bytes::from(parts.concat()),
                    });
                }
                (FrameKind::Error(err), _) => return Err(err.into()),
                (kind, _) => return Err(unexpected(&kind, "inside an answer")),
            }
        }
    }

    /// Waits until the worker's backend accepted a streaming call.
    pub(crate) async fn started(&mut self, deadline: Instant) -> Result<(), BackendError> {
        match self.frame(deadline).await? {
            (FrameKind::Started, _) => Ok(()),
            (FrameKind::Error(err), _) => Err(err.into()),
            (kind, _) => Err(unexpected(&kind, "before the stream started")),
        }
    }
}

fn no_responders(link: &Link) -> BackendError {
    match link.roster.serving(&link.model) {
        0 => BackendError::Unavailable(format!("no worker serves model {}", link.model)),
        // Workers are alive but none is subscribed: all are at their max_in_flight.
        n => BackendError::Overloaded(format!(
            "all {n} workers serving model {} are busy",
            link.model
        )),
    }
}

enum Failure {
    NoResponders,
    Backend(BackendError),
}

impl From<BackendError> for Failure {
    fn from(err: BackendError) -> Self {
        Self::Backend(err)
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let Some(control) = self.control.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let head = ControlHead {
            id: self.id.clone(),
            kind: ControlKind::Cancel,
        };
        let client = self.client.clone();
        runtime.spawn(async move {
            let _ = client.publish(control, protocol::encode(&head, &[])).await;
        });
    }
}
