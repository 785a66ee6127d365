//! One request, worker side: read the offer, take it (a private control subject), receive a
//! chunked body, run the call on the model's backend, and answer with numbered frames, until
//! done or until the gateway cancels.

use crate::attempt::{MAX_REQUEST_BYTES, MAX_STREAM_ITEM_BYTES};
use crate::protocol::{
    self, Call, ControlHead, ControlKind, FrameHead, FrameKind, HEAD_ROOM, OfferHead,
    PROTOCOL_VERSION, ProtocolError, UPLOAD_WINDOW, Upload, WireError,
};
use crate::transcript::{DeltaJson, TranscriptJson};
use crate::wire::{self, WireDecodeError};
use async_nats::{Client, Message, Subject, Subscriber};
use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use omnigate_backend::{Answer, Backend, BackendError, TranscriptionEvent};
use serde::Serialize;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

/// Bodies larger than this are decoded on the blocking pool.
const DECODE_IN_PLACE_BYTES: usize = 64 * 1024;

/// Writes the frames of one attempt, numbered.
struct Replier {
    client: Client,
    reply: Subject,
    id: String,
    seq: u64,
}

/// The gateway is gone or the connection closed: stop.
struct Gone;

impl Replier {
    fn new(client: Client, reply: Subject) -> Self {
        let id = reply.to_string();
        Self {
            client,
            reply,
            id,
            seq: 0,
        }
    }

    async fn send(&mut self, kind: FrameKind, data: &[u8]) -> Result<(), Gone> {
        let head = FrameHead {
            id: self.id.clone(),
            seq: self.seq,
            kind,
        };
        self.seq += 1;
        self.client
            .publish(self.reply.clone(), protocol::encode(&head, data))
            .await
            .map_err(|e| {
                tracing::warn!(target: "omnigate_fleet", "cannot answer: {e}");
                Gone
            })
    }

    async fn fail(&mut self, err: &BackendError) -> Result<(), Gone> {
        self.send(FrameKind::Error(WireError::from(err)), &[]).await
    }

    /// Room for data in one message.
    fn room(&self) -> usize {
        self.client
            .max_payload()
            .saturating_sub(HEAD_ROOM)
            .max(1024)
    }

    /// A whole answer document as `Part`s, then `End`.
    async fn document(&mut self, text: &[u8]) -> Result<(), Gone> {
        let room = self.room();
        for part in text.chunks(room) {
            self.send(FrameKind::Part, part).await?;
        }
        self.send(FrameKind::End, &[]).await
    }

    /// One stream item, if it is within the limits.
    async fn item(&mut self, data: &[u8]) -> Result<(), Gone> {
        if data.len() > MAX_STREAM_ITEM_BYTES.min(self.room()) {
            let err = BackendError::BadResponse(format!(
                "the model produced a {}-byte stream item, over the fleet's limit",
                data.len()
            ));
            self.fail(&err).await?;
            return Err(Gone);
        }
        self.send(FrameKind::Item, data).await
    }
}

/// Answers an offer the worker cannot take with `err` (busy, shutting down).
pub(crate) async fn refuse(client: Client, message: Message, err: BackendError) {
    if let Some(reply) = message.reply {
        let _ = Replier::new(client, reply).fail(&err).await;
    }
}

/// Serves one offer on `backend` to the end.
pub(crate) async fn serve(client: Client, backend: Arc<dyn Backend>, message: Message) {
    let Some(reply) = message.reply else {
        return; // nobody waits for an answer
    };
    let mut out = Replier::new(client.clone(), reply);
    let (head, inline) = match protocol::decode::<OfferHead>(&message.payload) {
        Ok(offer) => offer,
        Err(ProtocolError::Version(v)) => {
            let err = BackendError::Unavailable(format!(
                "the request speaks fleet protocol v{v}; this worker speaks v{PROTOCOL_VERSION}: \
                 upgrade the worker"
            ));
            let _ = out.fail(&err).await;
            return;
        }
        Err(err) => {
            let _ = out.fail(&BackendError::Internal(err.to_string())).await;
            return;
        }
    };
    let per_try = Duration::from_millis(head.timeout_ms.clamp(1, 24 * 3_600_000));
    let control_subject = client.new_inbox();
    let mut control = match client.subscribe(control_subject.clone()).await {
        Ok(control) => control,
        Err(e) => {
            let _ = out
                .fail(&BackendError::Unavailable(format!(
                    "worker cannot subscribe: {e}"
                )))
                .await;
            return;
        }
    };
    let taken = FrameKind::Taken {
        control: control_subject,
    };
    if out.send(taken, &[]).await.is_err() {
        return;
    }
    let body = match head.upload {
        None => inline,
        Some(upload) => match receive(&mut control, &mut out, upload, per_try).await {
            Ok(body) => body,
            Err(Some(err)) => {
                let _ = out.fail(&err).await;
                return;
            }
            Err(None) => return, // cancelled or gone
        },
    };
    let id = out.id.clone();
    let work = AssertUnwindSafe(run(head.call, backend.as_ref(), body, &mut out)).catch_unwind();
    let panicked = tokio::select! {
        result = work => result.is_err(),
        () = cancelled(&mut control, &id) => {
            tracing::debug!(target: "omnigate_fleet", "the gateway cancelled a request");
            false
        }
    };
    if panicked {
        tracing::error!(target: "omnigate_fleet", "a model's backend panicked");
        let err = BackendError::Internal("the worker's backend panicked".to_owned());
        let _ = out.fail(&err).await;
    }
}

/// Receives an upload's chunks in order, acknowledging every window. `Err(None)`: cancelled.
async fn receive(
    control: &mut Subscriber,
    out: &mut Replier,
    upload: Upload,
    per_try: Duration,
) -> Result<Bytes, Option<BackendError>> {
    let broken = |why: String| {
        Some(BackendError::Unavailable(format!(
            "the upload broke off: {why}"
        )))
    };
    let total = usize::try_from(upload.total).unwrap_or(usize::MAX);
    if total > MAX_REQUEST_BYTES {
        return Err(Some(BackendError::Rejected {
            status: 413,
            message: format!("the request exceeds {} MiB", MAX_REQUEST_BYTES >> 20),
            param: None,
        }));
    }
    if upload.chunks == 0 || upload.chunks as usize > total.max(1) {
        return Err(broken(format!(
            "{} chunks for {total} bytes",
            upload.chunks
        )));
    }
    let mut body = Vec::with_capacity(total);
    for index in 0..upload.chunks {
        let message = match tokio::time::timeout(per_try, control.next()).await {
            Err(_) => return Err(broken(format!("no chunk {index} within {per_try:?}"))),
            Ok(None) => return Err(None),
            Ok(Some(message)) => message,
        };
        let (head, data) =
            protocol::decode::<ControlHead>(&message.payload).map_err(|e| broken(e.to_string()))?;
        if head.id != out.id {
            return Err(broken("a chunk of another request".to_owned()));
        }
        match head.kind {
            ControlKind::Cancel => return Err(None),
            ControlKind::Chunk { index: got } if got == index => {}
            ControlKind::Chunk { index: got } => {
                return Err(broken(format!("chunk {got} arrived where {index} was due")));
            }
        }
        if body.len() + data.len() > total {
            return Err(broken(format!("more than the announced {total} bytes")));
        }
        body.extend_from_slice(&data);
        let next = index + 1;
        if next % UPLOAD_WINDOW == 0 && next < upload.chunks {
            out.send(FrameKind::Ack { next }, &[])
                .await
                .map_err(|Gone| None)?;
        }
    }
    if body.len() != total {
        return Err(broken(format!(
            "{} of the announced {total} bytes",
            body.len()
        )));
    }
    Ok(Bytes::from(body))
}

/// Resolves when the gateway sends `Cancel` for this request.
async fn cancelled(control: &mut Subscriber, id: &str) {
    while let Some(message) = control.next().await {
        if let Ok((head, _)) = protocol::decode::<ControlHead>(&message.payload)
            && head.id == id
            && head.kind == ControlKind::Cancel
        {
            return;
        }
    }
    // The subscription ended (the client is closing): keep working, nobody will cancel.
    std::future::pending::<()>().await;
}

/// Decodes a request body, on the blocking pool when it is large.
async fn decode<T: Send + 'static>(
    body: Bytes,
    decode: fn(&[u8]) -> Result<T, WireDecodeError>,
) -> Result<T, BackendError> {
    let result = if body.len() <= DECODE_IN_PLACE_BYTES {
        decode(&body)
    } else {
        tokio::task::spawn_blocking(move || decode(&body))
            .await
            .map_err(|e| BackendError::Internal(format!("decoding the request stopped: {e}")))?
    };
    result.map_err(|e| BackendError::Internal(e.to_string()))
}

/// The OpenAI JSON text of an answer.
fn json_text<T: Serialize>(answer: Answer<T>) -> Result<Bytes, BackendError> {
    match answer {
        Answer::Built(value) => serde_json::to_vec(&value)
            .map(Bytes::from)
            .map_err(|e| BackendError::Internal(format!("cannot write the answer as JSON: {e}"))),
        Answer::Relayed(json) => Ok(Bytes::copy_from_slice(json.text())),
    }
}

/// Runs the call and writes its frames.
async fn run(
    call: Call,
    backend: &dyn Backend,
    body: Bytes,
    out: &mut Replier,
) -> Result<(), Gone> {
    let outcome = match call {
        Call::Chat => match decode(body, wire::decode_chat).await {
            Ok(request) => backend.chat(request).await.and_then(json_text),
            Err(err) => Err(err),
        },
        Call::Embeddings => match decode(body, wire::decode_embeddings).await {
            Ok(request) => backend.embeddings(request).await.and_then(json_text),
            Err(err) => Err(err),
        },
        Call::Transcribe => match decode(body, wire::decode_transcription).await {
            Ok(request) => backend
                .transcribe(request)
                .await
                .and_then(|t| json_text(Answer::Built(TranscriptJson::from(&t)))),
            Err(err) => Err(err),
        },
        Call::ChatStream => return chat_stream(backend, body, out).await,
        Call::TranscribeStream => return transcribe_stream(backend, body, out).await,
    };
    match outcome {
        Ok(text) => out.document(&text).await,
        Err(err) => out.fail(&err).await,
    }
}

async fn chat_stream(backend: &dyn Backend, body: Bytes, out: &mut Replier) -> Result<(), Gone> {
    let started = match decode(body, wire::decode_chat).await {
        Ok(request) => backend.chat_stream(request).await,
        Err(err) => Err(err),
    };
    let mut chunks = match started {
        Ok(chunks) => chunks,
        Err(err) => return out.fail(&err).await,
    };
    out.send(FrameKind::Started, &[]).await?;
    while let Some(chunk) = chunks.next().await {
        match chunk.and_then(json_text) {
            Ok(text) => out.item(&text).await?,
            Err(err) => return out.fail(&err).await,
        }
    }
    out.send(FrameKind::End, &[]).await
}

async fn transcribe_stream(
    backend: &dyn Backend,
    body: Bytes,
    out: &mut Replier,
) -> Result<(), Gone> {
    let started = match decode(body, wire::decode_transcription).await {
        Ok(request) => backend.transcribe_stream(request).await,
        Err(err) => Err(err),
    };
    let mut events = match started {
        Ok(events) => events,
        Err(err) => return out.fail(&err).await,
    };
    out.send(FrameKind::Started, &[]).await?;
    while let Some(event) = events.next().await {
        match event {
            Ok(TranscriptionEvent::Delta(delta)) => {
                let text = serde_json::to_vec(&DeltaJson { delta }).unwrap_or_default();
                out.item(&text).await?;
            }
            Ok(TranscriptionEvent::Done(done)) => {
                let text = serde_json::to_vec(&TranscriptJson::from(&done)).unwrap_or_default();
                return out.document(&text).await;
            }
            Err(err) => return out.fail(&err).await,
        }
    }
    out.fail(&BackendError::BadResponse(
        "the model's transcription stream ended without a transcript".to_owned(),
    ))
    .await
}
