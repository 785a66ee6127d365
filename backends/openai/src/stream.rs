//! Server-sent events from the upstream relayed as chat chunks, one by one as they arrive, with
//! an idle deadline while waiting for bytes. Each event's JSON is checked and handed on as the
//! upstream wrote it ([`omnigate_backend::RelayedJson`]), not decoded and re-encoded. Dropping
//! the stream drops the upstream response, which closes its connection: the upstream sees the
//! cancellation.

use crate::sse::{MAX_EVENT_BYTES, Split, SseSplitter};
use bytes::Bytes;
use futures::StreamExt;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use omnigate_backend::{Answer, BackendError, ChatStream, WireKind};
use std::time::Duration;

struct State {
    body: Incoming,
    events: SseSplitter,
    /// Some choice has finished: the upstream may end the stream now.
    finished: bool,
    /// An error was reported: the stream ends.
    done: bool,
}

pub(crate) fn chat_chunks(response: http::Response<Incoming>, idle: Duration) -> ChatStream {
    let state = State {
        body: response.into_body(),
        events: SseSplitter::default(),
        finished: false,
        done: false,
    };
    futures::stream::unfold(state, move |mut state| async move {
        if state.done {
            return None;
        }
        let failure = loop {
            match state.events.next_event() {
                Split::Event(data) => {
                    let data = trimmed(data);
                    if data.is_empty() {
                        continue;
                    }
                    if data == b"[DONE]".as_slice() {
                        return None;
                    }
                    match crate::relay(data, WireKind::ChatChunk) {
                        Ok(chunk) => {
                            if let Answer::Relayed(json) = &chunk {
                                state.finished |= json.finishes();
                            }
                            return Some((Ok(chunk), state));
                        }
                        Err(err) => break err,
                    }
                }
                Split::TooLong => {
                    break BackendError::BadResponse(format!(
                        "upstream sent an event over {} MiB",
                        MAX_EVENT_BYTES >> 20
                    ));
                }
                Split::NeedMore => {}
            }
            match tokio::time::timeout(idle, state.body.frame()).await {
                Err(_) => break BackendError::Timeout(idle),
                Ok(None) if state.finished => return None,
                Ok(None) => {
                    break BackendError::BadResponse(
                        "upstream closed the stream before it finished".to_owned(),
                    );
                }
                Ok(Some(Err(err))) => break crate::client::body_error(&err),
                Ok(Some(Ok(frame))) => {
                    // Trailers carry nothing for us.
                    if let Ok(bytes) = frame.into_data() {
                        state.events.push(bytes);
                    }
                }
            }
        };
        state.done = true;
        Some((Err(failure), state))
    })
    .boxed()
}

/// `data` without surrounding ASCII whitespace, sharing its bytes.
fn trimmed(data: Bytes) -> Bytes {
    let start = data
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(data.len());
    let end = data
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |last| last + 1);
    data.slice(start..end)
}
