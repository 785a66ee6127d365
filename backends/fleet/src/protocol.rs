//! The fleet's message protocol: what travels between a gateway and a worker around one request.
//!
//! Every message is `[version: u8][head length: u32 LE][head: MessagePack map][data: bytes]`.
//! The head says what the message is; `data` is the raw payload it carries (a request body, a
//! piece of an answer, one stream item), never re-encoded. A message whose version byte is not
//! [`PROTOCOL_VERSION`] is refused with a message naming both versions, so an old worker turns
//! a newer request away clearly instead of misreading it (and a gateway does the same with a
//! newer worker's frames).
//!
//! One attempt, seen from the gateway:
//!
//! 1. It subscribes a fresh inbox `I` and publishes an **offer** ([`OfferHead`]; the request body
//!    as data when it fits in one message) to `{prefix}.req.{model}` with reply-to `I`. No
//!    subscriber: the server answers "no responders" at once.
//! 2. The worker that took it answers on `I` with **frames** ([`FrameHead`]), numbered from 0 by
//!    `seq` with no gap, each naming the attempt by `id` (= `I`): first `Taken` with a private
//!    control subject `C`.
//! 3. A body too large for one message follows on `C` as **control** messages
//!    ([`ControlHead`], `Chunk`), in order; the worker answers `Ack` after every [`UPLOAD_WINDOW`]
//!    chunks so that no more than a window is ever in flight.
//! 4. Unary answers come as `Part` frames (the OpenAI JSON text, cut to fit) and `End`; streams
//!    as `Started` (the worker's backend accepted), `Item`s and `End`; failures as `Error`.
//! 5. A gateway that gives up publishes `Cancel` on `C`; the worker stops the work.

use bytes::Bytes;
use omnigate_backend::{BackendError, Task};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The version byte every message starts with.
pub const PROTOCOL_VERSION: u8 = 1;

/// Upload chunks sent before the gateway waits for the worker's `Ack`.
pub const UPLOAD_WINDOW: u32 = 8;

/// Room kept in every message for its head when data is cut to the server's `max_payload`.
pub const HEAD_ROOM: usize = 4096;

/// What the gateway asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Call {
    /// `Backend::chat`: answered with `Part`s.
    Chat,
    /// `Backend::chat_stream`: `Started`, then one `Item` per chunk.
    ChatStream,
    /// `Backend::embeddings`: answered with `Part`s.
    Embeddings,
    /// `Backend::transcribe`: answered with `Part`s.
    Transcribe,
    /// `Backend::transcribe_stream`: `Started`, one `Item` per text delta, then the whole
    /// transcript as `Part`s.
    TranscribeStream,
}

impl Call {
    /// The backend task it belongs to.
    pub fn task(self) -> Task {
        match self {
            Self::Chat | Self::ChatStream => Task::Chat,
            Self::Embeddings => Task::Embeddings,
            Self::Transcribe | Self::TranscribeStream => Task::Transcription,
        }
    }
}

/// The head of an offer (gateway → `{prefix}.req.{model}`, reply-to the attempt's inbox).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OfferHead {
    /// What to run.
    pub call: Call,
    /// The gateway's per-try timeout: how long it waits for each next message.
    pub timeout_ms: u64,
    /// `None`: the body is this message's data. `Some`: it follows in chunks on the control
    /// subject.
    pub upload: Option<Upload>,
}

/// A body sent in chunks after the offer.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Upload {
    /// Its size in bytes.
    pub total: u64,
    /// How many chunks it comes in.
    pub chunks: u32,
}

/// The head of a frame (worker → the attempt's inbox).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FrameHead {
    /// The attempt it answers: the inbox the offer named as reply-to.
    pub id: String,
    /// 0, 1, 2... within the attempt.
    pub seq: u64,
    /// What it says.
    pub kind: FrameKind,
}

/// What a frame says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameKind {
    /// The worker took the offer; control messages go to `control`.
    Taken {
        /// The worker's private subject for this request (upload chunks, cancellation).
        control: String,
    },
    /// Upload chunks up to `next` (exclusive) arrived; send the next window.
    Ack {
        /// Index of the next chunk the worker waits for.
        next: u32,
    },
    /// The worker's backend accepted a streaming call: items follow.
    Started,
    /// A piece of an answer document (data); the document is the concatenation of the parts.
    Part,
    /// One stream item (data).
    Item,
    /// The answer is complete.
    End,
    /// The call failed; nothing follows.
    Error(WireError),
}

/// The head of a control message (gateway → the worker's control subject).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ControlHead {
    /// The attempt it belongs to (its inbox).
    pub id: String,
    /// What it says.
    pub kind: ControlKind,
}

/// What a control message says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlKind {
    /// Chunk `index` of the upload (data).
    Chunk {
        /// 0, 1, 2... in order.
        index: u32,
    },
    /// Stop working on the request; no answer is wanted any more.
    Cancel,
}

/// Why a message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// Another protocol version.
    #[error("fleet protocol v{0} (this side speaks v{PROTOCOL_VERSION})")]
    Version(u8),
    /// Not a message of this protocol.
    #[error("not a fleet protocol message: {0}")]
    Malformed(String),
}

/// Writes one message: version, head, data.
pub fn encode<H: Serialize>(head: &H, data: &[u8]) -> Bytes {
    let head = rmp_serde::to_vec_named(head).unwrap_or_default();
    let mut out = Vec::with_capacity(5 + head.len() + data.len());
    out.push(PROTOCOL_VERSION);
    out.extend_from_slice(&u32::try_from(head.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(&head);
    out.extend_from_slice(data);
    Bytes::from(out)
}

/// Reads one message: its head, and its data (sharing the payload's memory).
pub fn decode<H: DeserializeOwned>(payload: &Bytes) -> Result<(H, Bytes), ProtocolError> {
    let Some((&version, rest)) = payload.split_first() else {
        return Err(ProtocolError::Malformed("empty message".to_owned()));
    };
    if version != PROTOCOL_VERSION {
        return Err(ProtocolError::Version(version));
    }
    let (length, rest) = rest
        .split_first_chunk::<4>()
        .ok_or_else(|| ProtocolError::Malformed("cut off before its head".to_owned()))?;
    let length = usize::try_from(u32::from_le_bytes(*length)).unwrap_or(usize::MAX);
    let head = rest
        .get(..length)
        .ok_or_else(|| ProtocolError::Malformed("cut off inside its head".to_owned()))?;
    let head = rmp_serde::from_slice(head).map_err(|e| ProtocolError::Malformed(e.to_string()))?;
    Ok((head, payload.slice(5 + length..)))
}

/// A [`BackendError`] as it crosses the wire; rebuilt into the same variant on the gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireError {
    /// The variant, in snake case (`unavailable`, `timeout`, `rejected`...).
    pub kind: String,
    /// Its message.
    pub message: String,
    /// The HTTP-like status, for the variants that have one.
    pub status: Option<u16>,
    /// The parameter blamed (`rejected`).
    pub param: Option<String>,
    /// The wait asked for (`retry_after`), or the deadline missed (`timeout`), in ms.
    pub retry_after_ms: Option<u64>,
    /// The task not served (`unsupported`).
    pub task: Option<String>,
}

impl WireError {
    fn new(kind: &str, message: impl Into<String>) -> Self {
        Self {
            kind: kind.to_owned(),
            message: message.into(),
            status: None,
            param: None,
            retry_after_ms: None,
            task: None,
        }
    }
}

fn millis(duration: Duration) -> Option<u64> {
    Some(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
}

impl From<&BackendError> for WireError {
    fn from(err: &BackendError) -> Self {
        match err {
            BackendError::Unavailable(m) => Self::new("unavailable", m.clone()),
            BackendError::Timeout(after) => Self {
                retry_after_ms: millis(*after),
                ..Self::new("timeout", "")
            },
            BackendError::Overloaded(m) => Self::new("overloaded", m.clone()),
            BackendError::RetryAfter {
                status,
                message,
                after,
            } => Self {
                status: Some(*status),
                retry_after_ms: millis(*after),
                ..Self::new("retry_after", message.clone())
            },
            BackendError::Rejected {
                status,
                message,
                param,
            } => Self {
                status: Some(*status),
                param: param.clone(),
                ..Self::new("rejected", message.clone())
            },
            BackendError::Upstream { status, message } => Self {
                status: Some(*status),
                ..Self::new("upstream", message.clone())
            },
            BackendError::BadResponse(m) => Self::new("bad_response", m.clone()),
            BackendError::Unsupported(task) => Self {
                task: Some(task.name().to_owned()),
                ..Self::new("unsupported", format!("{task:?}"))
            },
            BackendError::Internal(m) => Self::new("internal", m.clone()),
        }
    }
}

impl From<WireError> for BackendError {
    fn from(err: WireError) -> Self {
        let after = Duration::from_millis(err.retry_after_ms.unwrap_or(0));
        match err.kind.as_str() {
            "unavailable" => Self::Unavailable(err.message),
            "timeout" => Self::Timeout(after),
            "overloaded" => Self::Overloaded(err.message),
            "retry_after" => Self::RetryAfter {
                status: err.status.unwrap_or(503),
                message: err.message,
                after,
            },
            "rejected" => Self::Rejected {
                status: err.status.filter(|s| (400..500).contains(s)).unwrap_or(400),
                message: err.message,
                param: err.param,
            },
            "bad_response" => Self::BadResponse(err.message),
            "internal" => Self::Internal(err.message),
            "unsupported" => match err.task.as_deref() {
                Some("chat") => Self::Unsupported(Task::Chat),
                Some("embeddings") => Self::Unsupported(Task::Embeddings),
                Some("transcription") => Self::Unsupported(Task::Transcription),
                Some("infer") => Self::Unsupported(Task::Infer),
                _ => Self::BadResponse(format!("worker named an unknown task: {:?}", err.task)),
            },
            // `upstream`, and kinds a newer worker may send: the worker's side failed.
            _ => Self::Upstream {
                status: err.status.filter(|s| (500..600).contains(s)).unwrap_or(500),
                message: err.message,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_other_versions_are_named() {
        let head = FrameHead {
            id: "_INBOX.x".into(),
            seq: 3,
            kind: FrameKind::Taken {
                control: "_INBOX.c".into(),
            },
        };
        let message = encode(&head, b"data");
        let (back, data): (FrameHead, Bytes) = decode(&message).unwrap();
        assert_eq!(back.seq, 3);
        assert_eq!(back.kind, head.kind);
        assert_eq!(&data[..], b"data");
        let mut newer = message.to_vec();
        newer[0] = 2;
        let err = decode::<FrameHead>(&Bytes::from(newer)).unwrap_err();
        assert_eq!(err, ProtocolError::Version(2));
        assert!(err.to_string().contains("v2") && err.to_string().contains("v1"));
        for broken in [
            &b""[..],
            b"\x01",
            b"\x01\xff\xff\x00\x00abc",
            b"\x01\x01\x00\x00\x00\xc1",
        ] {
            let result = decode::<FrameHead>(&Bytes::copy_from_slice(broken));
            assert!(
                matches!(result, Err(ProtocolError::Malformed(_))),
                "{broken:?}"
            );
        }
    }

    #[test]
    fn every_backend_error_comes_back_as_the_same_variant() {
        let errors = [
            BackendError::Unavailable("down".into()),
            BackendError::Timeout(Duration::from_millis(1500)),
            BackendError::Overloaded("busy".into()),
            BackendError::RetryAfter {
                status: 429,
                message: "slow down".into(),
                after: Duration::from_secs(2),
            },
            BackendError::Rejected {
                status: 422,
                message: "bad".into(),
                param: Some("messages".into()),
            },
            BackendError::Upstream {
                status: 502,
                message: "gateway".into(),
            },
            BackendError::BadResponse("junk".into()),
            BackendError::Unsupported(Task::Transcription),
            BackendError::Internal("bug".into()),
        ];
        for err in errors {
            let head = FrameHead {
                id: "i".into(),
                seq: 0,
                kind: FrameKind::Error(WireError::from(&err)),
            };
            let (back, _): (FrameHead, Bytes) = decode(&encode(&head, &[])).unwrap();
            let FrameKind::Error(wire) = back.kind else {
                panic!("not an error frame");
            };
            assert_eq!(
                format!("{:?}", BackendError::from(wire)),
                format!("{err:?}")
            );
        }
    }
}
