//! Streamed answers, gateway side: the frames of a started attempt turned into chat chunks or
//! transcription events, in order, each within the per-try timeout of the one before. The first
//! failure (a late, missing, misnumbered, oversized or undecodable frame, or the worker's own
//! error) ends the stream with a [`BackendError`]; dropping the stream drops the attempt, which
//! unsubscribes its inbox and tells the worker to stop.

use crate::attempt::{Attempt, MAX_ANSWER_BYTES, MAX_STREAM_ITEM_BYTES};
use crate::telemetry;
use crate::transcript::{DeltaJson, TranscriptJson};
use bytes::Bytes;
use futures::StreamExt;
use omnigate_backend::{
    Answer, BackendError, ChatStream, RelayError, RelayedJson, TranscriptionEvent,
    TranscriptionStream, WireKind,
};
use std::sync::Arc;

struct State {
    attempt: Attempt,
    model: Arc<str>,
    /// Parts of the final transcript (transcription streams).
    parts: Vec<Bytes>,
    size: usize,
    done: bool,
}

impl State {
    fn end<T>(&mut self, result: Result<T, BackendError>) -> Result<T, BackendError> {
        self.done = true;
        telemetry::request(&self.model, telemetry::outcome(&result));
        result
    }
}

impl Drop for State {
    fn drop(&mut self) {
        if !self.done {
            // Dropped by its reader before the end: the attempt tells the worker to stop.
            telemetry::request(&self.model, "cancelled");
        }
    }
}

fn check_item(data: &Bytes) -> Result<(), BackendError> {
    if data.len() > MAX_STREAM_ITEM_BYTES {
        return Err(BackendError::BadResponse(format!(
            "worker sent a {}-byte stream item, over the limit of {} KiB",
            data.len(),
            MAX_STREAM_ITEM_BYTES >> 10
        )));
    }
    Ok(())
}

/// A chat chunk's JSON checked and relayed as written.
pub(crate) fn relay<T>(text: Bytes, kind: WireKind) -> Result<Answer<T>, BackendError> {
    match RelayedJson::parse(text, kind) {
        Ok(json) => Ok(Answer::Relayed(json)),
        Err(RelayError::ErrorObject(text)) => Err(BackendError::Upstream {
            status: 500,
            message: format!(
                "the worker relayed an error object: {}",
                String::from_utf8_lossy(&text[..text.len().min(512)])
            ),
        }),
        Err(RelayError::Malformed(why)) => Err(BackendError::BadResponse(format!(
            "worker's answer is not the expected JSON: {why}"
        ))),
    }
}

/// The chunks of a started chat stream.
pub(crate) fn chat(attempt: Attempt, model: Arc<str>) -> ChatStream {
    let state = State {
        attempt,
        model,
        parts: Vec::new(),
        size: 0,
        done: false,
    };
    futures::stream::unfold(state, |mut state| async move {
        if state.done {
            return None;
        }
        let item = match state.attempt.frame_in_time().await {
            Ok((crate::protocol::FrameKind::Item, data)) => {
                match check_item(&data).and_then(|()| relay(data, WireKind::ChatChunk)) {
                    Ok(chunk) => Ok(chunk),
                    Err(err) => state.end(Err(err)),
                }
            }
            Ok((crate::protocol::FrameKind::End, _)) => {
                let _ = state.end(Ok(()));
                return None;
            }
            Ok((crate::protocol::FrameKind::Error(err), _)) => state.end(Err(err.into())),
            Ok((kind, _)) => state.end(Err(BackendError::BadResponse(format!(
                "worker sent a {kind:?} frame inside a chat stream"
            )))),
            Err(err) => state.end(Err(err)),
        };
        Some((item, state))
    })
    .boxed()
}

/// The events of a started transcription stream: deltas, then the whole transcript.
pub(crate) fn transcription(attempt: Attempt, model: Arc<str>) -> TranscriptionStream {
    let state = State {
        attempt,
        model,
        parts: Vec::new(),
        size: 0,
        done: false,
    };
    futures::stream::unfold(state, |mut state| async move {
        if state.done {
            return None;
        }
        loop {
            let event = match state.attempt.frame_in_time().await {
                Ok((crate::protocol::FrameKind::Item, data)) => check_item(&data)
                    .and_then(|()| {
                        serde_json::from_slice::<DeltaJson>(&data).map_err(|e| {
                            BackendError::BadResponse(format!("worker sent a bad delta: {e}"))
                        })
                    })
                    .map(|d| TranscriptionEvent::Delta(d.delta)),
                Ok((crate::protocol::FrameKind::Part, data)) => {
                    state.size += data.len();
                    if state.size <= MAX_ANSWER_BYTES {
                        state.parts.push(data);
                        continue;
                    }
                    Err(BackendError::BadResponse(format!(
                        "worker's transcript exceeds {} MiB",
                        MAX_ANSWER_BYTES >> 20
                    )))
                }
                Ok((crate::protocol::FrameKind::End, _)) if !state.parts.is_empty() => {
                    let text = state.parts.concat();
                    serde_json::from_slice::<TranscriptJson>(&text)
                        .map(|t| TranscriptionEvent::Done(t.into()))
                        .map_err(|e| {
                            BackendError::BadResponse(format!("worker sent a bad transcript: {e}"))
                        })
                }
                Ok((crate::protocol::FrameKind::Error(err), _)) => Err(err.into()),
                Ok((kind, _)) => Err(BackendError::BadResponse(format!(
                    "worker sent a {kind:?} frame inside a transcription stream"
                ))),
                Err(err) => Err(err),
            };
            let event = match event {
                Ok(TranscriptionEvent::Done(done)) => state.end(Ok(TranscriptionEvent::Done(done))),
                Ok(delta) => Ok(delta),
                Err(err) => state.end(Err(err)),
            };
            return Some((event, state));
        }
    })
    .boxed()
}
