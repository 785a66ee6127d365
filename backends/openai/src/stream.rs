//! Server-sent events from the upstream turned into typed chunks, one by one as they arrive,
//! with an idle deadline between events. Dropping the stream drops the upstream response, which
//! closes its connection: the upstream sees the cancellation.

use eventsource_stream::Eventsource;
use futures::StreamExt;
use http_body_util::BodyExt;
use omnigate_backend::{BackendError, ChatChunk, ChatStream};
use std::time::Duration;

struct State<S> {
    events: S,
    finished: bool,
    done: bool,
}

pub(crate) fn chat_chunks(
    response: http::Response<hyper::body::Incoming>,
    idle: Duration,
) -> ChatStream {
    let state = State {
        events: response.into_body().into_data_stream().eventsource(),
        finished: false,
        done: false,
    };
    futures::stream::unfold(state, move |mut state| async move {
        if state.done {
            return None;
        }
        loop {
            let next = match tokio::time::timeout(idle, state.events.next()).await {
                Err(_) => Some(Err(BackendError::Timeout(idle))),
                Ok(None) if state.finished => None,
                Ok(None) => Some(Err(BackendError::BadResponse(
                    "upstream closed the stream before it finished".to_owned(),
                ))),
                Ok(Some(Err(err))) => Some(Err(BackendError::BadResponse(format!(
                    "upstream stream broke off: {err}"
                )))),
                Ok(Some(Ok(event))) => {
                    let data = event.data.trim();
                    if data.is_empty() {
                        continue;
                    }
                    if data == "[DONE]" {
                        None
                    } else {
                        Some(parse_event(data))
                    }
                }
            };
            return match next {
                None => None,
                Some(Ok(chunk)) => {
                    state.finished |= chunk.choices.iter().any(|c| c.finish_reason.is_some());
                    Some((Ok(chunk), state))
                }
                Some(Err(err)) => {
                    state.done = true;
                    Some((Err(err), state))
                }
            };
        }
    })
    .boxed()
}

fn parse_event(data: &str) -> Result<ChatChunk, BackendError> {
    match serde_json::from_str::<ChatChunk>(data) {
        Ok(chunk) => Ok(chunk),
        Err(parse_error) => {
            // Servers report mid-stream failures as an error object in a data line.
            let (message, _) = crate::errors::parse_error_body(data.as_bytes());
            let is_error = serde_json::from_str::<serde_json::Value>(data)
                .is_ok_and(|v| v.get("error").is_some());
            if is_error {
                Err(BackendError::Upstream {
                    status: 500,
                    message: message.unwrap_or_else(|| "upstream error mid-stream".to_owned()),
                })
            } else {
                Err(BackendError::BadResponse(format!(
                    "upstream sent an event that is not a chat chunk: {parse_error}"
                )))
            }
        }
    }
}
