//! Server-sent events: any stream of JSON events written as it arrives, `data: {event}\n\n`
//! each, `data: {"error": ...}\n\n` if the source fails mid-way (the status line is long gone by
//! then), and `data: [DONE]\n\n` at the end where the endpoint's convention has it. When the
//! client goes away the body is dropped, which drops the source stream and cancels the backend
//! call.

use crate::error::ApiError;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use bytes::BytesMut;
use futures::Stream;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

const DONE: &[u8] = b"data: [DONE]\n\n";

/// Any stream of JSON events as server-sent events: `data: {event}\n\n` each; a failure
/// becomes one `data: {"error": ...}` event that ends the stream (the status line is long
/// gone by then); `data: [DONE]` closes it when `done_marker` (chat's convention).
pub fn event_stream<J: AsRef<[u8]>>(
    events: impl Stream<Item = Result<J, ApiError>> + Send + 'static,
    done_marker: bool,
) -> Response {
    let frames = SseFrames {
        events: Box::pin(events),
        pending: BytesMut::new(),
        done_marker,
        ended: false,
    };
    let mut response = super::json::answer(Body::from_stream(frames), "text/event-stream");
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Tell nginx-style proxies in front of us not to buffer the stream.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// Writes events as SSE frames. Every event already available when the body is polled goes
/// into one buffer and out as one body chunk: an upstream burst (several tokens in one read)
/// costs one allocation and one HTTP chunk instead of one each, and nothing waits, since only
/// events that are ready are taken.
struct SseFrames<S> {
    events: Pin<Box<S>>,
    /// Frames not yet handed to the body.
    pending: BytesMut,
    done_marker: bool,
    /// The stream finished (or failed); nothing more is read from `events`.
    ended: bool,
}

/// First allocation for a burst: several token chunks' worth.
const BURST_START_BYTES: usize = 2048;

/// A burst is cut here so one chunk stays a reasonable write.
const MAX_BURST_BYTES: usize = 64 * 1024;

impl<S, J> Stream for SseFrames<S>
where
    S: Stream<Item = Result<J, ApiError>>,
    J: AsRef<[u8]>,
{
    type Item = Result<Bytes, Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // Every field is Unpin (the event stream is boxed).
        let this = self.get_mut();
        while !this.ended && this.pending.len() < MAX_BURST_BYTES {
            match this.events.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(json))) => push_frame(&mut this.pending, json.as_ref()),
                Poll::Ready(Some(Err(err))) => {
                    // Nothing sensible can follow an error event.
                    tracing::warn!(error = %err, "stream failed mid-way");
                    let json = serde_json::to_vec(&err.body()).unwrap_or_default();
                    push_frame(&mut this.pending, &json);
                    this.ended = true;
                }
                Poll::Ready(None) => {
                    if this.done_marker {
                        this.pending.extend_from_slice(DONE);
                    }
                    this.ended = true;
                }
                Poll::Pending if this.pending.is_empty() => return Poll::Pending,
                Poll::Pending => break,
            }
        }
        if this.pending.is_empty() {
            return Poll::Ready(None);
        }
        Poll::Ready(Some(Ok(this.pending.split().freeze())))
    }
}

fn push_frame(out: &mut BytesMut, json: &[u8]) {
    let frame_len = json.len() + 8;
    // Room for a typical burst up front, so a few tokens do not regrow the buffer each.
    out.reserve(if out.is_empty() {
        frame_len.max(BURST_START_BYTES)
    } else {
        frame_len
    });
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(json);
    out.extend_from_slice(b"\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::{FutureExt, StreamExt};

    fn frames<S>(events: S) -> SseFrames<S> {
        SseFrames {
            events: Box::pin(events),
            pending: BytesMut::new(),
            done_marker: true,
            ended: false,
        }
    }

    fn text(chunk: Option<Result<Bytes, Infallible>>) -> String {
        let Some(Ok(bytes)) = chunk else {
            panic!("expected a chunk, got {chunk:?}");
        };
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn events_ready_together_leave_as_one_chunk() {
        let events = futures::stream::iter(["{\"a\":1}", "{\"b\":2}"].map(Ok::<_, ApiError>));
        let chunks: Vec<_> = frames(events).collect().now_or_never().unwrap();
        assert_eq!(chunks.len(), 1);
        assert_eq!(
            text(chunks.into_iter().next()),
            "data: {\"a\":1}\n\ndata: {\"b\":2}\n\ndata: [DONE]\n\n"
        );
    }

    #[test]
    fn a_ready_event_is_not_held_back_waiting_for_the_next() {
        let (sender, receiver) = futures::channel::mpsc::unbounded::<Result<&str, ApiError>>();
        let mut stream = frames(receiver);
        sender.unbounded_send(Ok("1")).unwrap();
        assert_eq!(text(stream.next().now_or_never().unwrap()), "data: 1\n\n");
        assert!(
            stream.next().now_or_never().is_none(),
            "nothing more is ready"
        );
        sender.unbounded_send(Ok("2")).unwrap();
        drop(sender);
        assert_eq!(
            text(stream.next().now_or_never().unwrap()),
            "data: 2\n\ndata: [DONE]\n\n"
        );
        assert!(stream.next().now_or_never().unwrap().is_none());
    }

    #[test]
    fn an_error_is_the_last_event() {
        let events = futures::stream::iter([
            Ok("1"),
            Err(ApiError::Internal("boom".to_owned())),
            Ok("never sent"),
        ]);
        let chunks: Vec<_> = frames(events).collect().now_or_never().unwrap();
        let all: String = chunks.into_iter().map(|c| text(Some(c))).collect();
        assert!(all.starts_with("data: 1\n\ndata: {\"error\":"), "{all}");
        assert!(all.ends_with("}\n\n"), "{all}");
        assert!(
            !all.contains("never sent") && !all.contains("[DONE]"),
            "{all}"
        );
    }

    #[test]
    fn a_long_burst_is_cut_into_bounded_chunks() {
        let event = "x".repeat(10_000);
        let events = futures::stream::iter((0..20).map(|_| Ok::<_, ApiError>(event.clone())));
        let chunks: Vec<_> = frames(events).collect().now_or_never().unwrap();
        assert!(chunks.len() >= 3, "{} chunks", chunks.len());
        let mut total = 0;
        for chunk in chunks {
            let chunk = text(Some(chunk));
            assert!(chunk.len() < MAX_BURST_BYTES + event.len() + 8 + DONE.len());
            total += chunk.len();
        }
        assert_eq!(total, 20 * (event.len() + 8) + DONE.len());
    }
}
