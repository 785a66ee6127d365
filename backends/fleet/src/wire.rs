//! Requests in their compact binary form (MessagePack through mirror structs of the core types:
//! the core crate stays free of serde derives).
//!
//! Media travel as byte blobs: encoded pictures as their file bytes, f32 tensors and samples as
//! little-endian bytes (4 per value, never one MessagePack float per element). Free-form JSON
//! (`params`, `extra`) travels as its JSON text, so every number and key comes back as sent.
//! Decoding borrows from the message and checks every size (a tensor's values against its
//! shape, samples against the channel count) before a backend sees it.

use omnigate_backend::{
    Audio, ChatRequest, ContentPart, Datatype, EmbeddingInput, EmbeddingsRequest, EncodedImage,
    ImageData, ImageFormat, ImagePart, ImageTensor, Message, MessageContent, Role, Tensor,
    TranscriptionRequest, Video, VideoFrame,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::sync::Arc;

/// Why bytes are not a request of the expected kind.
#[derive(Debug, Clone, thiserror::Error)]
#[error("undecodable request: {0}")]
pub struct WireDecodeError(String);

fn bad(what: impl Into<String>) -> WireDecodeError {
    WireDecodeError(what.into())
}

#[derive(Serialize, Deserialize)]
struct ChatWire<'a> {
    #[serde(borrow)]
    model: Cow<'a, str>,
    #[serde(borrow)]
    messages: Vec<MessageWire<'a>>,
    /// JSON text of the params object.
    #[serde(borrow)]
    params: Cow<'a, str>,
}

#[derive(Serialize, Deserialize)]
struct MessageWire<'a> {
    role: RoleWire,
    #[serde(borrow)]
    content: Option<ContentWire<'a>>,
    /// JSON text of the extra fields.
    #[serde(borrow)]
    extra: Cow<'a, str>,
}

#[derive(Serialize, Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum RoleWire {
    System,
    Developer,
    User,
    Assistant,
    Tool,
    Function,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ContentWire<'a> {
    Text(#[serde(borrow)] Cow<'a, str>),
    Parts(#[serde(borrow)] Vec<PartWire<'a>>),
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum PartWire<'a> {
    Text(#[serde(borrow)] Cow<'a, str>),
    Image(#[serde(borrow)] ImagePartWire<'a>),
    Audio(#[serde(borrow)] AudioWire<'a>),
    Video(#[serde(borrow)] VideoWire<'a>),
}

#[derive(Serialize, Deserialize)]
struct ImagePartWire<'a> {
    #[serde(borrow)]
    image: ImageWire<'a>,
    #[serde(borrow)]
    detail: Option<Cow<'a, str>>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ImageWire<'a> {
    Encoded {
        png: bool,
        #[serde(with = "serde_bytes", borrow)]
        bytes: Cow<'a, [u8]>,
        width: u32,
        height: u32,
    },
    Tensor {
        channels: u32,
        height: u32,
        width: u32,
        /// Little-endian f32s.
        #[serde(with = "serde_bytes", borrow)]
        data: Cow<'a, [u8]>,
    },
}

#[derive(Serialize, Deserialize)]
struct AudioWire<'a> {
    sample_rate: u32,
    channels: u16,
    /// Little-endian f32s.
    #[serde(with = "serde_bytes", borrow)]
    samples: Cow<'a, [u8]>,
}

#[derive(Serialize, Deserialize)]
struct VideoWire<'a> {
    #[serde(borrow)]
    frames: Vec<FrameWire<'a>>,
    #[serde(borrow)]
    audio: Option<AudioWire<'a>>,
}

#[derive(Serialize, Deserialize)]
struct FrameWire<'a> {
    timestamp_secs: f64,
    #[serde(borrow)]
    image: ImageWire<'a>,
}

#[derive(Serialize, Deserialize)]
struct EmbeddingsWire<'a> {
    #[serde(borrow)]
    model: Cow<'a, str>,
    #[serde(borrow)]
    input: InputWire<'a>,
    dimensions: Option<u32>,
    #[serde(borrow)]
    extra: Cow<'a, str>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum InputWire<'a> {
    Text(#[serde(borrow)] Vec<Cow<'a, str>>),
    Tokens(Vec<Vec<u32>>),
    /// Media already made into the model's input tensor (see `EmbeddingInput::Media`).
    Media {
        #[serde(borrow)]
        name: Cow<'a, str>,
        #[serde(borrow)]
        datatype: Cow<'a, str>,
        shape: Vec<u64>,
        #[serde(with = "serde_bytes", borrow)]
        data: Cow<'a, [u8]>,
    },
}

#[derive(Serialize, Deserialize)]
struct TranscriptionWire<'a> {
    #[serde(borrow)]
    model: Cow<'a, str>,
    #[serde(borrow)]
    audio: AudioWire<'a>,
    #[serde(borrow)]
    language: Option<Cow<'a, str>>,
    #[serde(borrow)]
    prompt: Option<Cow<'a, str>>,
    temperature: Option<f64>,
    translate: bool,
}

/// The MessagePack of a value (only plain structs are written: it cannot fail in practice).
fn to_bytes<T: Serialize>(value: &T) -> Vec<u8> {
    rmp_serde::to_vec_named(value).unwrap_or_default()
}

fn json_text(map: &Map<String, Value>) -> Cow<'static, str> {
    if map.is_empty() {
        return Cow::Borrowed("");
    }
    Cow::Owned(serde_json::to_string(map).unwrap_or_default())
}

fn json_map(text: &str) -> Result<Map<String, Value>, WireDecodeError> {
    if text.is_empty() {
        return Ok(Map::new());
    }
    serde_json::from_str(text).map_err(|e| bad(format!("fields are not a JSON object: {e}")))
}

fn f32_bytes(values: &[f32]) -> Cow<'static, [u8]> {
    Cow::Owned(values.iter().flat_map(|v| v.to_le_bytes()).collect())
}

fn f32s(bytes: &[u8], what: &str) -> Result<Arc<[f32]>, WireDecodeError> {
    let (values, rest) = bytes.as_chunks::<4>();
    if !rest.is_empty() {
        return Err(bad(format!(
            "{what}: {} bytes is not whole f32s",
            bytes.len()
        )));
    }
    Ok(values.iter().map(|b| f32::from_le_bytes(*b)).collect())
}

/// Whether the request carries media (worth encoding off the async executor).
pub fn chat_carries_media(request: &ChatRequest) -> bool {
    request.messages.iter().any(|m| {
        matches!(&m.content, Some(MessageContent::Parts(parts))
            if parts.iter().any(|p| !matches!(p, ContentPart::Text(_))))
    })
}

/// A chat request's binary form.
pub fn encode_chat(request: &ChatRequest) -> Vec<u8> {
    let messages = request
        .messages
        .iter()
        .map(|m| MessageWire {
            role: role_wire(m.role),
            content: m.content.as_ref().map(|c| match c {
                MessageContent::Text(t) => ContentWire::Text(Cow::Borrowed(t)),
                MessageContent::Parts(parts) => {
                    ContentWire::Parts(parts.iter().map(part_wire).collect())
                }
            }),
            extra: json_text(&m.extra),
        })
        .collect();
    to_bytes(&ChatWire {
        model: Cow::Borrowed(&request.model),
        messages,
        params: json_text(&request.params),
    })
}

/// A chat request back from its binary form.
pub fn decode_chat(bytes: &[u8]) -> Result<ChatRequest, WireDecodeError> {
    let wire: ChatWire<'_> =
        rmp_serde::from_slice(bytes).map_err(|e| bad(format!("not a chat request: {e}")))?;
    let messages = wire
        .messages
        .into_iter()
        .map(|m| {
            let content = match m.content {
                None => None,
                Some(ContentWire::Text(t)) => Some(MessageContent::Text(t.into_owned())),
                Some(ContentWire::Parts(parts)) => Some(MessageContent::Parts(
                    parts.into_iter().map(part).collect::<Result<_, _>>()?,
                )),
            };
            Ok(Message {
                role: role(m.role),
                content,
                extra: json_map(&m.extra)?,
            })
        })
        .collect::<Result<_, WireDecodeError>>()?;
    Ok(ChatRequest {
        model: wire.model.into_owned(),
        messages,
        params: json_map(&wire.params)?,
    })
}

/// An embeddings request's binary form.
pub fn encode_embeddings(request: &EmbeddingsRequest) -> Vec<u8> {
    let input = match &request.input {
        EmbeddingInput::Text(items) => {
            InputWire::Text(items.iter().map(|s| Cow::Borrowed(s.as_str())).collect())
        }
        EmbeddingInput::Tokens(items) => InputWire::Tokens(items.clone()),
        EmbeddingInput::Media(tensor) => InputWire::Media {
            name: Cow::Borrowed(&tensor.name),
            datatype: Cow::Borrowed(tensor.datatype.as_str()),
            shape: tensor.shape.clone(),
            data: Cow::Borrowed(&tensor.data),
        },
    };
    to_bytes(&EmbeddingsWire {
        model: Cow::Borrowed(&request.model),
        input,
        dimensions: request.dimensions,
        extra: json_text(&request.extra),
    })
}

/// An embeddings request back from its binary form.
pub fn decode_embeddings(bytes: &[u8]) -> Result<EmbeddingsRequest, WireDecodeError> {
    let wire: EmbeddingsWire<'_> =
        rmp_serde::from_slice(bytes).map_err(|e| bad(format!("not an embeddings request: {e}")))?;
    Ok(EmbeddingsRequest {
        model: wire.model.into_owned(),
        input: match wire.input {
            InputWire::Text(items) => {
                EmbeddingInput::Text(items.into_iter().map(Cow::into_owned).collect())
            }
            InputWire::Tokens(items) => EmbeddingInput::Tokens(items),
            InputWire::Media {
                name,
                datatype,
                shape,
                data,
            } => {
                let tensor = Tensor {
                    name: name.into_owned(),
                    datatype: Datatype::parse(&datatype)
                        .ok_or_else(|| bad(format!("no tensor datatype `{datatype}`")))?,
                    shape,
                    data: bytes::Bytes::from(data.into_owned()),
                };
                tensor
                    .check()
                    .map_err(|e| bad(format!("embeddings input tensor: {e}")))?;
                EmbeddingInput::Media(tensor)
            }
        },
        dimensions: wire.dimensions,
        extra: json_map(&wire.extra)?,
    })
}

/// A transcription request's binary form.
pub fn encode_transcription(request: &TranscriptionRequest) -> Vec<u8> {
    to_bytes(&TranscriptionWire {
        model: Cow::Borrowed(&request.model),
        audio: audio_wire(&request.audio),
        language: request.language.as_deref().map(Cow::Borrowed),
        prompt: request.prompt.as_deref().map(Cow::Borrowed),
        temperature: request.temperature,
        translate: request.translate,
    })
}

/// A transcription request back from its binary form.
pub fn decode_transcription(bytes: &[u8]) -> Result<TranscriptionRequest, WireDecodeError> {
    let wire: TranscriptionWire<'_> = rmp_serde::from_slice(bytes)
        .map_err(|e| bad(format!("not a transcription request: {e}")))?;
    Ok(TranscriptionRequest {
        model: wire.model.into_owned(),
        audio: audio(wire.audio)?,
        language: wire.language.map(Cow::into_owned),
        prompt: wire.prompt.map(Cow::into_owned),
        temperature: wire.temperature,
        translate: wire.translate,
    })
}

fn role_wire(role: Role) -> RoleWire {
    match role {
        Role::System => RoleWire::System,
        Role::Developer => RoleWire::Developer,
        Role::User => RoleWire::User,
        Role::Assistant => RoleWire::Assistant,
        Role::Tool => RoleWire::Tool,
        Role::Function => RoleWire::Function,
    }
}

fn role(role: RoleWire) -> Role {
    match role {
        RoleWire::System => Role::System,
        RoleWire::Developer => Role::Developer,
        RoleWire::User => Role::User,
        RoleWire::Assistant => Role::Assistant,
        RoleWire::Tool => Role::Tool,
        RoleWire::Function => Role::Function,
    }
}

fn part_wire(part: &ContentPart) -> PartWire<'_> {
    match part {
        ContentPart::Text(t) => PartWire::Text(Cow::Borrowed(t)),
        ContentPart::Image(i) => PartWire::Image(ImagePartWire {
            image: image_wire(&i.image),
            detail: i.detail.as_deref().map(Cow::Borrowed),
        }),
        ContentPart::Audio(a) => PartWire::Audio(audio_wire(a)),
        ContentPart::Video(v) => PartWire::Video(VideoWire {
            frames: v
                .frames
                .iter()
                .map(|f| FrameWire {
                    timestamp_secs: f.timestamp_secs,
                    image: image_wire(&f.image),
                })
                .collect(),
            audio: v.audio.as_ref().map(audio_wire),
        }),
    }
}

fn part(part: PartWire<'_>) -> Result<ContentPart, WireDecodeError> {
    Ok(match part {
        PartWire::Text(t) => ContentPart::Text(t.into_owned()),
        PartWire::Image(i) => ContentPart::Image(ImagePart {
            image: image(i.image)?,
            detail: i.detail.map(Cow::into_owned),
        }),
        PartWire::Audio(a) => ContentPart::Audio(audio(a)?),
        PartWire::Video(v) => ContentPart::Video(Video {
            frames: v
                .frames
                .into_iter()
                .map(|f| {
                    Ok(VideoFrame {
                        timestamp_secs: f.timestamp_secs,
                        image: image(f.image)?,
                    })
                })
                .collect::<Result<_, WireDecodeError>>()?,
            audio: v.audio.map(audio).transpose()?,
        }),
    })
}

fn image_wire(image: &ImageData) -> ImageWire<'_> {
    match image {
        ImageData::Encoded(e) => ImageWire::Encoded {
            png: e.format == ImageFormat::Png,
            bytes: Cow::Borrowed(&e.bytes),
            width: e.width,
            height: e.height,
        },
        ImageData::Tensor(t) => ImageWire::Tensor {
            channels: t.channels,
            height: t.height,
            width: t.width,
            data: f32_bytes(&t.data),
        },
    }
}

fn image(image: ImageWire<'_>) -> Result<ImageData, WireDecodeError> {
    Ok(match image {
        ImageWire::Encoded {
            png,
            bytes,
            width,
            height,
        } => ImageData::Encoded(EncodedImage {
            format: if png {
                ImageFormat::Png
            } else {
                ImageFormat::Jpeg
            },
            bytes: Arc::from(bytes.as_ref()),
            width,
            height,
        }),
        ImageWire::Tensor {
            channels,
            height,
            width,
            data,
        } => {
            let data = f32s(&data, "image tensor")?;
            let expected = u64::from(channels) * u64::from(height) * u64::from(width);
            if data.len() as u64 != expected {
                return Err(bad(format!(
                    "image tensor {channels}x{height}x{width} carries {} values",
                    data.len()
                )));
            }
            ImageData::Tensor(ImageTensor {
                channels,
                height,
                width,
                data,
            })
        }
    })
}

fn audio_wire(audio: &Audio) -> AudioWire<'static> {
    AudioWire {
        sample_rate: audio.sample_rate,
        channels: audio.channels,
        samples: f32_bytes(&audio.samples),
    }
}

fn audio(audio: AudioWire<'_>) -> Result<Audio, WireDecodeError> {
    let samples = f32s(&audio.samples, "audio")?;
    if audio.channels == 0 || audio.sample_rate == 0 {
        return Err(bad("audio with no channel or no sample rate"));
    }
    if samples.len() % usize::from(audio.channels) != 0 {
        return Err(bad(format!(
            "{} samples do not fill {} channels",
            samples.len(),
            audio.channels
        )));
    }
    Ok(Audio {
        sample_rate: audio.sample_rate,
        channels: audio.channels,
        samples,
    })
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
