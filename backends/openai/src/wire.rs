//! Request bodies in the OpenAI wire format, written straight from the typed request (no
//! intermediate `Value` tree). Normalized media is encoded the way OpenAI-compatible servers read
//! it: pictures as `image_url` data URLs, sound as `input_audio` WAV, video as its frames (and
//! audio track) in order, which every vision model understands.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use omnigate_backend::{
    Audio, BackendError, ChatRequest, ContentPart, EmbeddingInput, EmbeddingsRequest, ImageData,
    ImagePart, Message, MessageContent, SegmentDecoding, TranscriptionRequest,
    TranscriptionResponse, TranscriptionSegment,
};
use serde::Deserialize;
use serde::ser::{Error as _, SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::json;

/// Fields the gateway owns; never copied from `params`.
const RESERVED: [&str; 3] = ["model", "messages", "stream"];

pub(crate) fn chat_body(request: &ChatRequest, stream: bool) -> Result<Vec<u8>, BackendError> {
    serde_json::to_vec(&ChatBody { request, stream })
        .map_err(|e| BackendError::Internal(format!("cannot encode the chat request: {e}")))
}

/// Whether any message carries a picture, sound or video part.
pub(crate) fn carries_media(request: &ChatRequest) -> bool {
    request
        .messages
        .iter()
        .any(|message| match &message.content {
            Some(MessageContent::Parts(parts)) => parts
                .iter()
                .any(|part| !matches!(part, ContentPart::Text(_))),
            _ => false,
        })
}

pub(crate) fn embeddings_body(request: &EmbeddingsRequest) -> Result<Vec<u8>, BackendError> {
    let mut body = serde_json::Map::with_capacity(request.extra.len() + 3);
    body.insert("model".into(), json!(request.model));
    body.insert(
        "input".into(),
        match &request.input {
            EmbeddingInput::Text(items) => json!(items),
            EmbeddingInput::Tokens(items) => json!(items),
            // The OpenAI embeddings API has no tensor input.
            EmbeddingInput::Media(_) => {
                return Err(BackendError::Rejected {
                    status: 400,
                    message: "This model's server embeds text; it takes no pictures or sounds."
                        .to_owned(),
                    param: Some("input".to_owned()),
                });
            }
        },
    );
    if let Some(dimensions) = request.dimensions {
        body.insert("dimensions".into(), json!(dimensions));
    }
    for (key, value) in &request.extra {
        body.entry(key.clone()).or_insert_with(|| value.clone());
    }
    serde_json::to_vec(&body)
        .map_err(|e| BackendError::Internal(format!("cannot encode the embeddings request: {e}")))
}

/// The multipart form of a transcription: the normalized audio as 16-bit WAV, and
/// `verbose_json` so the upstream's segments come back too.
pub(crate) fn transcription_form(
    request: &TranscriptionRequest,
) -> Result<reqwest::multipart::Form, BackendError> {
    let file = reqwest::multipart::Part::bytes(wav_pcm16(&request.audio))
        .file_name("audio.wav")
        .mime_str("audio/wav")
        .map_err(|e| BackendError::Internal(format!("cannot build the upload: {e}")))?;
    let mut form = reqwest::multipart::Form::new()
        .part("file", file)
        .text("model", request.model.clone())
        .text("response_format", "verbose_json");
    if let Some(language) = &request.language {
        form = form.text("language", language.clone());
    }
    if let Some(prompt) = &request.prompt {
        form = form.text("prompt", prompt.clone());
    }
    if let Some(temperature) = request.temperature {
        form = form.text("temperature", temperature.to_string());
    }
    Ok(form)
}

/// An upstream transcript: `verbose_json` when the server honours it, plain `json` otherwise.
#[derive(Debug, Deserialize)]
pub(crate) struct VerboseTranscript {
    text: String,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    duration: Option<f64>,
    #[serde(default)]
    segments: Vec<VerboseSegment>,
}

#[derive(Debug, Deserialize)]
struct VerboseSegment {
    start: f64,
    end: f64,
    text: String,
    /// Whisper's decoding details: kept when the upstream reports all of them (a Whisper
    /// server does), `None` when any is missing.
    #[serde(flatten)]
    decoding: Option<VerboseDecoding>,
}

#[derive(Debug, Deserialize)]
struct VerboseDecoding {
    seek: u64,
    tokens: Vec<u32>,
    temperature: f64,
    avg_logprob: f64,
    compression_ratio: f64,
    no_speech_prob: f64,
}

impl VerboseTranscript {
    pub(crate) fn into_response(self, audio_secs: f64) -> TranscriptionResponse {
        TranscriptionResponse {
            text: self.text,
            language: self.language,
            duration_secs: self.duration.unwrap_or(audio_secs),
            segments: self
                .segments
                .into_iter()
                .map(|s| TranscriptionSegment {
                    start_secs: s.start,
                    end_secs: s.end,
                    text: s.text,
                    decoding: s.decoding.map(|d| SegmentDecoding {
                        seek: d.seek,
                        tokens: d.tokens,
                        temperature: d.temperature,
                        avg_logprob: d.avg_logprob,
                        compression_ratio: d.compression_ratio,
                        no_speech_prob: d.no_speech_prob,
                    }),
                })
                .collect(),
        }
    }
}

struct ChatBody<'a> {
    request: &'a ChatRequest,
    stream: bool,
}

impl Serialize for ChatBody<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("model", &self.request.model)?;
        map.serialize_entry("messages", &Messages(&self.request.messages))?;
        for (key, value) in &self.request.params {
            // stream_options is only valid on streaming requests.
            if RESERVED.contains(&key.as_str()) || (!self.stream && key == "stream_options") {
                continue;
            }
            map.serialize_entry(key, value)?;
        }
        if self.stream {
            map.serialize_entry("stream", &true)?;
        }
        map.end()
    }
}

struct Messages<'a>(&'a [Message]);

impl Serialize for Messages<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for message in self.0 {
            seq.serialize_element(&WireMessage(message))?;
        }
        seq.end()
    }
}

struct WireMessage<'a>(&'a Message);

impl Serialize for WireMessage<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let message = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("role", message.role.as_str())?;
        match &message.content {
            None => map.serialize_entry("content", &())?,
            Some(MessageContent::Text(text)) => map.serialize_entry("content", text)?,
            Some(MessageContent::Parts(parts)) => {
                map.serialize_entry("content", &Parts(parts))?;
            }
        }
        for (key, value) in &message.extra {
            if key != "role" && key != "content" {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

struct Parts<'a>(&'a [ContentPart]);

impl Serialize for Parts<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(None)?;
        for part in self.0 {
            match part {
                ContentPart::Text(text) => {
                    seq.serialize_element(&json!({"type": "text", "text": text}))?;
                }
                ContentPart::Image(image) => {
                    seq.serialize_element(&image_part(image).map_err(S::Error::custom)?)?;
                }
                ContentPart::Audio(audio) => seq.serialize_element(&audio_part(audio))?,
                ContentPart::Video(video) => {
                    for frame in &video.frames {
                        let image = ImagePart {
                            image: frame.image.clone(),
                            detail: None,
                        };
                        seq.serialize_element(&image_part(&image).map_err(S::Error::custom)?)?;
                    }
                    if let Some(audio) = &video.audio {
                        seq.serialize_element(&audio_part(audio))?;
                    }
                }
            }
        }
        seq.end()
    }
}

fn image_part(part: &ImagePart) -> Result<serde_json::Value, String> {
    let ImageData::Encoded(image) = &part.image else {
        return Err("a tensor image cannot be sent to a remote backend; \
                    configure the model's image output as jpeg or png"
            .to_owned());
    };
    let url = format!(
        "data:{};base64,{}",
        image.format.mime(),
        BASE64.encode(&image.bytes)
    );
    let mut image_url = json!({ "url": url });
    if let Some(detail) = &part.detail {
        image_url["detail"] = json!(detail);
    }
    Ok(json!({"type": "image_url", "image_url": image_url}))
}

fn audio_part(audio: &Audio) -> serde_json::Value {
    json!({"type": "input_audio",
           "input_audio": {"data": BASE64.encode(wav_pcm16(audio)), "format": "wav"}})
}

/// The most a clip over full scale is turned down to fit 16-bit PCM: 4×, 12 dB.
const MAX_ATTENUATION: f32 = 4.0;

/// 16-bit PCM WAV: what every audio-capable server accepts.
///
/// Decoded and resampled sound may overshoot full scale a little (a band-limited signal near
/// ±1.0 rings past it); rather than clip those peaks, which distorts, a clip whose peak is over
/// full scale is attenuated as a whole just enough to fit, by at most [`MAX_ATTENUATION`]. A
/// peak beyond that is a glitch rather than loud sound (a lone wild sample would otherwise turn
/// the whole clip to silence), so those samples are clipped, and that is logged.
pub(crate) fn wav_pcm16(audio: &Audio) -> Vec<u8> {
    let channels = audio.channels.max(1);
    let data_len = u32::try_from(audio.samples.len() * 2).unwrap_or(u32::MAX - 36);
    let mut out = Vec::with_capacity(44 + audio.samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&audio.sample_rate.to_le_bytes());
    let block_align = channels * 2;
    out.extend_from_slice(&(audio.sample_rate * u32::from(block_align)).to_le_bytes());
    out.extend_from_slice(&block_align.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    let finite = |s: &f32| if s.is_finite() { *s } else { 0.0 };
    let peak = audio
        .samples
        .iter()
        .fold(0.0f32, |peak, s| peak.max(finite(s).abs()));
    let gain = if peak > 1.0 {
        1.0 / peak.min(MAX_ATTENUATION)
    } else {
        1.0
    };
    if peak > MAX_ATTENUATION {
        tracing::warn!(
            peak,
            "sound far over full scale: attenuated 12 dB, the rest clipped"
        );
    } else if peak > 1.0 {
        tracing::debug!(peak, "sound over full scale attenuated to fit 16-bit PCM");
    }
    let full_scale = f32::from(i16::MAX);
    for sample in audio.samples.iter() {
        // NaN and infinities (no decoder makes them) become silence, not a full-scale click.
        let value = (finite(sample) * gain * full_scale)
            .round()
            .clamp(-full_scale, full_scale) as i16;
        out.extend_from_slice(&value.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use omnigate_backend::{EncodedImage, ImageFormat, Role};
    use serde_json::{Map, Value};
    use std::sync::Arc;

    #[test]
    fn an_upstream_s_segment_details_are_kept_only_when_all_are_there() {
        let text = r#"{"text": "Hi. Bye.", "duration": 2.0, "segments": [
            {"id": 0, "seek": 0, "start": 0.0, "end": 1.0, "text": " Hi.", "tokens": [50364, 2421, 13],
             "temperature": 0.2, "avg_logprob": -0.3, "compression_ratio": 0.9, "no_speech_prob": 0.01},
            {"id": 1, "start": 1.0, "end": 2.0, "text": " Bye.", "tokens": [50414, 4621, 13]}]}"#;
        let transcript: VerboseTranscript = serde_json::from_str(text).unwrap();
        let segments = transcript.into_response(2.0).segments;
        let first = segments[0].decoding.clone().unwrap();
        assert_eq!((first.seek, first.temperature), (0, 0.2));
        assert_eq!(first.tokens, [50364, 2421, 13]);
        assert_eq!(
            (
                first.avg_logprob,
                first.compression_ratio,
                first.no_speech_prob
            ),
            (-0.3, 0.9, 0.01)
        );
        assert_eq!(segments[1].decoding, None, "partial details are not kept");
        assert_eq!(segments[1].text, " Bye.");
    }

    fn body(request: &ChatRequest, stream: bool) -> Value {
        serde_json::from_slice(&chat_body(request, stream).unwrap()).unwrap()
    }

    #[test]
    fn params_pass_through_verbatim_and_stream_options_only_when_streaming() {
        let params: Map<String, Value> = serde_json::from_value(json!({
            "max_completion_tokens": 7, "tools": [{"type": "function"}],
            "vendor_knob": {"a": 1}, "stream_options": {"include_usage": true},
            "stream": false, "model": "must-not-override"
        }))
        .unwrap();
        let request = ChatRequest {
            model: "up".into(),
            messages: vec![Message::text(Role::User, "hi")],
            params,
        };
        let plain = body(&request, false);
        assert_eq!(plain["model"], "up");
        assert_eq!(plain["max_completion_tokens"], 7);
        assert_eq!(plain["vendor_knob"]["a"], 1);
        assert_eq!(plain["tools"][0]["type"], "function");
        assert!(plain.get("stream_options").is_none());
        assert!(plain.get("stream").is_none());
        assert_eq!(
            plain["messages"][0],
            json!({"role": "user", "content": "hi"})
        );
        let streamed = body(&request, true);
        assert_eq!(streamed["stream"], true);
        assert_eq!(streamed["stream_options"]["include_usage"], true);
    }

    #[test]
    fn media_parts_are_encoded_as_openai_parts() {
        let image = ImagePart {
            image: ImageData::Encoded(EncodedImage {
                format: ImageFormat::Png,
                bytes: Arc::from(&b"\x89PNG"[..]),
                width: 1,
                height: 1,
            }),
            detail: Some("low".into()),
        };
        let audio = Audio {
            sample_rate: 16_000,
            channels: 1,
            samples: Arc::from(vec![0.0, 1.5, -1.0]),
        };
        let mut message = Message::text(Role::User, "");
        message.content = Some(MessageContent::Parts(vec![
            ContentPart::Text("look".into()),
            ContentPart::Image(image),
            ContentPart::Audio(audio.clone()),
        ]));
        message.extra.insert("name".into(), json!("ann"));
        let request = ChatRequest {
            model: "m".into(),
            messages: vec![message],
            params: Map::new(),
        };
        let body = body(&request, false);
        let parts = &body["messages"][0]["content"];
        assert_eq!(body["messages"][0]["name"], "ann");
        assert_eq!(parts[0], json!({"type": "text", "text": "look"}));
        assert_eq!(
            parts[1]["image_url"]["url"],
            "data:image/png;base64,iVBORw=="
        );
        assert_eq!(parts[1]["image_url"]["detail"], "low");
        assert_eq!(parts[2]["input_audio"]["format"], "wav");
        let wav = wav_pcm16(&audio);
        assert_eq!(wav.len(), 44 + 6);
    }

    #[test]
    fn only_requests_with_media_count_as_carrying_it() {
        let mut request = ChatRequest {
            model: "m".into(),
            messages: vec![Message::text(Role::User, "hi")],
            params: Map::new(),
        };
        assert!(!carries_media(&request));
        let mut message = Message::text(Role::User, "");
        message.content = Some(MessageContent::Parts(vec![ContentPart::Text(
            "look".into(),
        )]));
        request.messages.push(message.clone());
        assert!(!carries_media(&request));
        message.content = Some(MessageContent::Parts(vec![ContentPart::Audio(Audio {
            sample_rate: 16_000,
            channels: 1,
            samples: Arc::from(vec![0.0; 4]),
        })]));
        request.messages.push(message);
        assert!(carries_media(&request));
    }

    fn pcm(samples: &[f32]) -> Vec<i16> {
        let audio = Audio {
            sample_rate: 16_000,
            channels: 1,
            samples: Arc::from(samples),
        };
        wav_pcm16(&audio)[44..]
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect()
    }

    #[test]
    fn sound_over_full_scale_is_attenuated_whole_not_clipped() {
        // Peak 2.0: everything halves, so the shape survives (a clip would flatten 2.0 and
        // -1.5 to the same magnitude).
        assert_eq!(pcm(&[0.5, 2.0, -1.5]), vec![8192, 32767, -24575]);
        // Within full scale, levels are untouched.
        assert_eq!(pcm(&[0.5, 1.0, -1.0]), vec![16384, 32767, -32767]);
        assert_eq!(pcm(&[f32::NAN, 0.25, f32::INFINITY]), vec![0, 8192, 0]);
        // A wild sample is clipped rather than silencing the clip: 12 dB at most.
        assert_eq!(pcm(&[1000.0, 2.0, 0.5]), vec![32767, 16384, 4096]);
    }
}
