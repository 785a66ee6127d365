//! The fake upstream's scripted HTTP faults. Every endpoint (chat, streamed chat, embeddings,
//! models, transcriptions) picks its [`Mode`] with [`next_mode`] (a queued one-shot mode first,
//! else the standing one), lets [`misbehave`] answer in its place for the faults that replace
//! the answer (failures, garbage, malformed bodies, hangs), and passes its normal answer through
//! [`shape`] for the faults that damage how the answer travels (stalled or trickled bodies).

use crate::{Mode, Shared};
use axum::body::Body;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_stream::StreamExt;

#[cfg(test)]
pub(crate) mod tests;

/// A JSON document cut off mid-way: what [`Mode::Malformed`] answers instead of JSON.
const TRUNCATED_JSON: &str = r#"{"id":"x","choices":["#;
/// An SSE event whose data is not JSON: what [`Mode::Malformed`] streams.
const MALFORMED_EVENT: &str = "data: {\"id\":\"x\",\"choices\":[\n\n";

/// The mode for the request being answered: the next queued one-shot mode, else the standing one.
pub(crate) fn next_mode(shared: &Shared) -> Mode {
    if let Some(mode) = shared.queued.lock().unwrap().pop_front() {
        return mode;
    }
    shared.mode.lock().unwrap().clone()
}

/// Applies the faults that replace the answer; `Some(response)` short-circuits the handler.
/// `streaming` says the client asked for SSE (only chat does).
pub(crate) async fn misbehave(mode: &Mode, streaming: bool) -> Option<Response> {
    match mode {
        Mode::Normal | Mode::HangMidBody | Mode::Trickle(_) => None,
        Mode::Delay(delay) => {
            tokio::time::sleep(*delay).await;
            None
        }
        Mode::Fail(status) => Some(failure(*status)),
        Mode::FailWithRetryAfter {
            status,
            retry_after_secs,
        } => {
            let mut response = failure(*status);
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            Some(response)
        }
        Mode::Garbage => Some((StatusCode::OK, "this is not json").into_response()),
        Mode::Malformed if streaming => Some(
            (
                StatusCode::OK,
                [(CONTENT_TYPE, "text/event-stream")],
                MALFORMED_EVENT,
            )
                .into_response(),
        ),
        Mode::Malformed => Some(
            (
                StatusCode::OK,
                [(CONTENT_TYPE, "application/json")],
                TRUNCATED_JSON,
            )
                .into_response(),
        ),
        Mode::Verbatim { content_type, body } => Some(
            (
                StatusCode::OK,
                [(CONTENT_TYPE, *content_type)],
                body.clone(),
            )
                .into_response(),
        ),
        Mode::Hang => {
            std::future::pending::<()>().await;
            None
        }
    }
}

/// This status with an OpenAI-style error body.
fn failure(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap();
    let body = json!({"error": {
        "message": format!("fake upstream failure {}", status.as_u16()),
        "type": "fake_error", "param": "messages", "code": null}});
    (status, axum::Json(body)).into_response()
}

/// Applies the faults that damage the normal answer on its way ([`Mode::HangMidBody`],
/// [`Mode::Trickle`]); any other mode leaves it as it is.
pub(crate) async fn shape(shared: &Shared, mode: &Mode, response: Response) -> Response {
    let stall_after_first = match mode {
        Mode::HangMidBody => true,
        Mode::Trickle(_) => false,
        _ => return response,
    };
    let (mut parts, body) = response.into_parts();
    let sse = parts
        .headers
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    let closed = shared.closed.subscribe();
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(1);
    let frames = if sse {
        // A stream's events go on as the handler produces them (its cancellation accounting
        // included): the first event only, or every event byte by byte.
        body.into_data_stream()
    } else {
        // A JSON answer is known whole: keep its length in the head, so that the client expects
        // the bytes that are held back.
        let bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap_or_default();
        parts
            .headers
            .insert(CONTENT_LENGTH, HeaderValue::from(bytes.len()));
        let bytes = if stall_after_first {
            bytes.slice(..bytes.len() / 2)
        } else {
            bytes
        };
        Body::from(bytes).into_data_stream()
    };
    match *mode {
        Mode::Trickle(interval) => {
            tokio::spawn(trickle(frames, interval, tx, closed));
        }
        _ => {
            tokio::spawn(first_then_stall(frames, tx, closed));
        }
    }
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    Response::from_parts(parts, body)
}

type Sender = mpsc::Sender<Result<Bytes, std::io::Error>>;

/// Sends the first frame, then nothing until the fake is dropped, when the body fails (the
/// connection is cut). Holds `frames` meanwhile, so a held stream is not seen as cancelled.
async fn first_then_stall(
    mut frames: axum::body::BodyDataStream,
    tx: Sender,
    closed: watch::Receiver<bool>,
) {
    if let Some(Ok(first)) = frames.next().await
        && tx.send(Ok(first)).await.is_err()
    {
        return;
    }
    tokio::select! {
        () = until_closed(closed) => {
            let _ = tx.send(Err(std::io::Error::other("fake upstream dropped"))).await;
        }
        () = tx.closed() => {}
    }
    drop(frames);
}

/// Sends every byte of `frames` alone, each after `interval`; the body fails if the fake is
/// dropped meanwhile.
async fn trickle(
    mut frames: axum::body::BodyDataStream,
    interval: Duration,
    tx: Sender,
    closed: watch::Receiver<bool>,
) {
    let closed = until_closed(closed);
    tokio::pin!(closed);
    while let Some(frame) = frames.next().await {
        let Ok(frame) = frame else {
            let _ = tx.send(Err(std::io::Error::other("body failed"))).await;
            return;
        };
        for i in 0..frame.len() {
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = &mut closed => {
                    let _ = tx.send(Err(std::io::Error::other("fake upstream dropped"))).await;
                    return;
                }
            }
            if tx.send(Ok(frame.slice(i..=i))).await.is_err() {
                return; // client gone
            }
        }
    }
}

/// Resolves once the fake is dropped.
async fn until_closed(mut closed: watch::Receiver<bool>) {
    // An error means the sender is gone, which only happens once the fake is gone too.
    let _ = closed.wait_for(|closed| *closed).await;
}
