//! The per-request media pass: budgets (item counts, bytes), fetching, decoding on the blocking
//! pool behind a semaphore with a deadline, and the accounting reported as `usage.media`.

use super::errors::{from_fetch, from_media, media};
use super::report::{audio_item, image_item, output_name};
use super::video;
use crate::error::{ApiError, MediaProblem};
use crate::registry::ModelEntry;
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use omnigate_backend::{ContentPart, ImagePart, Message, MessageContent, Modality, Role, Video};
use omnigate_config::MediaConfig;
use omnigate_fetch::{FetchPolicy, Fetcher, Source};
use omnigate_media::{Detail, MediaError};
use omnigate_openapi::{
    ChatMessage, ChatRole, ContentPart as ApiPart, ImageItem, MediaUsage,
    MessageContent as ApiContent, NormalizedItem, VideoItem,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// Base64 as clients send it: standard alphabet, padding optional.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Shared media machinery: one fetcher (pooled clients) and one decode semaphore per process.
pub struct Normalizer {
    fetcher: Fetcher,
    decode_slots: Arc<Semaphore>,
    config: MediaConfig,
}

/// A conversation ready for the backend, with what its media cost.
pub struct Normalized {
    /// Messages with normalized media.
    pub messages: Vec<Message>,
    /// Totals for `usage.media`.
    pub usage: MediaUsage,
    /// One report per media part, for `/v1/normalize`.
    pub items: Vec<NormalizedItem>,
}

/// What one request may still consume.
struct Budget {
    bytes_left: usize,
    images: usize,
    audio: usize,
    videos: usize,
}

impl Normalizer {
    /// Builds the fetcher and the decode pool limit from `[media]`.
    pub fn new(config: &MediaConfig) -> Result<Self, String> {
        let fetcher = Fetcher::new().map_err(|e| format!("cannot build the media fetcher: {e}"))?;
        let slots = match config.decode_concurrency {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        Ok(Self {
            fetcher,
            decode_slots: Arc::new(Semaphore::new(slots)),
            config: config.clone(),
        })
    }

    /// Converts the conversation for `model`, normalizing every media part.
    pub async fn messages(
        &self,
        messages: Vec<ChatMessage>,
        model: &ModelEntry,
    ) -> Result<Normalized, ApiError> {
        if messages.is_empty() {
            return Err(ApiError::invalid(
                "`messages` must contain at least one message.",
                Some("messages"),
            ));
        }
        let mut budget = Budget {
            bytes_left: self.config.max_request_bytes,
            images: self.config.max_images_per_request,
            audio: self.config.max_audio_per_request,
            videos: self.config.max_videos_per_request,
        };
        let mut out = Normalized {
            messages: Vec::with_capacity(messages.len()),
            usage: MediaUsage::default(),
            items: Vec::new(),
        };
        for (i, message) in messages.into_iter().enumerate() {
            let content = match message.content {
                None => None,
                Some(ApiContent::Text(text)) => Some(MessageContent::Text(text)),
                Some(ApiContent::Parts(parts)) => {
                    let mut converted = Vec::with_capacity(parts.len());
                    for (j, part) in parts.into_iter().enumerate() {
                        let param = format!("messages[{i}].content[{j}]");
                        self.part(part, model, &param, &mut budget, &mut out, &mut converted)
                            .await?;
                    }
                    Some(MessageContent::Parts(converted))
                }
            };
            out.messages.push(Message {
                role: role(message.role),
                content,
                extra: message.extra,
            });
        }
        Ok(out)
    }

    async fn part(
        &self,
        part: ApiPart,
        model: &ModelEntry,
        param: &str,
        budget: &mut Budget,
        out: &mut Normalized,
        parts: &mut Vec<ContentPart>,
    ) -> Result<(), ApiError> {
        let modality = match &part {
            ApiPart::Text { .. } => Modality::Text,
            ApiPart::ImageUrl { .. } => Modality::Image,
            ApiPart::InputAudio { .. } | ApiPart::AudioUrl { .. } => Modality::Audio,
            ApiPart::VideoUrl { .. } => Modality::Video,
        };
        // A video is also welcome where pictures are: it arrives as its frames.
        let accepted = model.modalities.contains(&modality)
            || (modality == Modality::Video && model.modalities.contains(&Modality::Image));
        if !accepted {
            return Err(ApiError::invalid(
                format!(
                    "The model `{}` does not accept {} input (part type `{}`).",
                    model.name,
                    modality_noun(modality),
                    part.type_name()
                ),
                Some(param),
            ));
        }
        match part {
            ApiPart::Text { text } => parts.push(ContentPart::Text(text)),
            ApiPart::ImageUrl { image_url } => {
                take(&mut budget.images, param, "image")?;
                let detail = match image_url.detail.as_deref() {
                    None => None,
                    Some(value) => Some(Detail::parse(value).ok_or_else(|| {
                        ApiError::invalid(
                            "`detail` must be one of auto, low, high, original.",
                            Some(&format!("{param}.image_url.detail")),
                        )
                    })?),
                };
                let timeout = self.config.fetch.image_timeout_secs;
                let (bytes, source) = self.fetch(&image_url.url, timeout, param, budget).await?;
                let policy = model.media.image.clone();
                let input_bytes = bytes.len() as u64;
                let (image, report) = self
                    .decode(param, move || {
                        omnigate_media::normalize_image(&bytes, &policy, detail)
                    })
                    .await?;
                let item = image_item(&report, &image);
                out.usage.images += 1;
                out.usage.image_pixels +=
                    u64::from(item.output_width) * u64::from(item.output_height);
                out.items.push(NormalizedItem {
                    param: param.to_owned(),
                    kind: "image".to_owned(),
                    source,
                    input_bytes,
                    image: Some(item),
                    audio: None,
                    video: None,
                });
                parts.push(ContentPart::Image(ImagePart {
                    image,
                    detail: image_url.detail,
                }));
            }
            ApiPart::InputAudio { input_audio } => {
                take(&mut budget.audio, param, "audio")?;
                let bytes = self.inline_base64(&input_audio.data, param, budget)?;
                let hint = Some(input_audio.format);
                let audio = self.audio(bytes, hint, "inline".to_owned(), model, param, out);
                parts.push(audio.await?);
            }
            ApiPart::AudioUrl { audio_url } => {
                take(&mut budget.audio, param, "audio")?;
                let timeout = self.config.fetch.audio_timeout_secs;
                let (bytes, source) = self.fetch(&audio_url.url, timeout, param, budget).await?;
                parts.push(self.audio(bytes, None, source, model, param, out).await?);
            }
            ApiPart::VideoUrl { video_url } => {
                take(&mut budget.videos, param, "video")?;
                let timeout = self.config.fetch.video_timeout_secs;
                let (bytes, source) = self.fetch(&video_url.url, timeout, param, budget).await?;
                self.video(bytes, source, model, param, out, parts).await?;
            }
        }
        Ok(())
    }

    /// Samples a video and adds it as a video part, or as its frames (and audio track) for a
    /// model that takes pictures but not video.
    async fn video(
        &self,
        bytes: bytes::Bytes,
        source: String,
        model: &ModelEntry,
        param: &str,
        out: &mut Normalized,
        parts: &mut Vec<ContentPart>,
    ) -> Result<(), ApiError> {
        let as_video = model.modalities.contains(&Modality::Video);
        let with_audio =
            model.media.video.extract_audio && model.modalities.contains(&Modality::Audio);
        let contract = model.media.clone();
        let input_bytes = bytes.len() as u64;
        let sampled = self
            .decode_with(
                param,
                move || video::sample(&bytes, &contract, with_audio),
                video::failure,
            )
            .await?;
        let info = &sampled.report.info;
        out.usage.video_frames += sampled.frames.len() as u32;
        out.usage.image_pixels += sampled.pixels;
        let audio_item = sampled.audio.as_ref().map(|(_, report)| {
            out.usage.audio_seconds += report.output_seconds;
            audio_item(report)
        });
        let frame = sampled.frame_size.map(|(w, h)| ImageItem {
            source_format: "h264".to_owned(),
            original_width: info.width,
            original_height: info.height,
            exif_orientation: 1,
            orientation_applied: false,
            alpha_composited: false,
            output: output_name(&model.media.image.output).to_owned(),
            output_width: w,
            output_height: h,
            output_bytes: None,
        });
        out.items.push(NormalizedItem {
            param: param.to_owned(),
            kind: "video".to_owned(),
            source,
            input_bytes,
            image: None,
            audio: audio_item,
            video: Some(VideoItem {
                container: info.container.clone(),
                codec: info.codec.clone(),
                width: info.width,
                height: info.height,
                duration_secs: info.duration_secs,
                decoded_frames: sampled.report.decoded_frames,
                frame_timestamps: sampled.report.sampled.clone(),
                frame,
                has_audio: info.has_audio,
                delivered_as: if as_video { "video" } else { "images" }.to_owned(),
            }),
        });
        let audio = sampled.audio.map(|(audio, _)| audio);
        if as_video {
            parts.push(ContentPart::Video(Video {
                frames: sampled.frames,
                audio,
            }));
        } else {
            // Each frame is labelled with its time so the model can tell the order and pace.
            for frame in sampled.frames {
                parts.push(ContentPart::Text(format!(
                    "[video frame at {:.2} s]",
                    frame.timestamp_secs
                )));
                parts.push(ContentPart::Image(ImagePart {
                    image: frame.image,
                    detail: None,
                }));
            }
            parts.extend(audio.map(ContentPart::Audio));
        }
        Ok(())
    }

    /// Decodes an uploaded audio file (transcription endpoints) to the model's audio contract.
    /// `filename`'s extension is a format hint only; the bytes decide.
    pub async fn upload(
        &self,
        bytes: bytes::Bytes,
        filename: Option<String>,
        model: &ModelEntry,
        param: &str,
    ) -> Result<omnigate_backend::Audio, ApiError> {
        if bytes.len() > self.config.max_item_bytes {
            return Err(media(
                MediaProblem::TooLarge,
                param,
                "media_too_large",
                format!(
                    "{param}: larger than the limit of {} bytes",
                    self.config.max_item_bytes
                ),
            ));
        }
        let hint = filename
            .as_deref()
            .and_then(|name| name.rsplit_once('.'))
            .map(|(_, ext)| ext.to_ascii_lowercase());
        let policy = model.media.audio.clone();
        let (audio, _report) = self
            .decode(param, move || {
                omnigate_media::normalize_audio(&bytes, hint.as_deref(), &policy)
            })
            .await?;
        Ok(audio)
    }

    async fn audio(
        &self,
        bytes: bytes::Bytes,
        hint: Option<String>,
        source: String,
        model: &ModelEntry,
        param: &str,
        out: &mut Normalized,
    ) -> Result<ContentPart, ApiError> {
        let policy = model.media.audio.clone();
        let input_bytes = bytes.len() as u64;
        let (audio, report) = self
            .decode(param, move || {
                omnigate_media::normalize_audio(&bytes, hint.as_deref(), &policy)
            })
            .await?;
        out.usage.audio_seconds += report.output_seconds;
        out.items.push(NormalizedItem {
            param: param.to_owned(),
            kind: "audio".to_owned(),
            source,
            input_bytes,
            image: None,
            audio: Some(audio_item(&report)),
            video: None,
        });
        Ok(ContentPart::Audio(audio))
    }

    /// Fetches a URL under the request's remaining byte budget.
    async fn fetch(
        &self,
        url: &str,
        timeout_secs: f64,
        param: &str,
        budget: &mut Budget,
    ) -> Result<(bytes::Bytes, String), ApiError> {
        let fetch = &self.config.fetch;
        let policy = FetchPolicy {
            max_bytes: self.config.max_item_bytes.min(budget.bytes_left),
            timeout: Duration::from_secs_f64(timeout_secs),
            max_redirects: fetch.max_redirects,
            allow_hosts: fetch.allow_hosts.clone(),
            file_root: fetch.file_root.clone(),
            allow_http: fetch.allow_http,
        };
        let fetched = self
            .fetcher
            .fetch(url, &policy)
            .await
            .map_err(|e| from_fetch(e, param))?;
        budget.bytes_left = budget.bytes_left.saturating_sub(fetched.bytes.len());
        let source = match fetched.source {
            Source::Data => "data",
            Source::Http { .. } => "http",
            Source::File => "file",
        };
        Ok((fetched.bytes, source.to_owned()))
    }

    /// Decodes an inline base64 field, checking its size before decoding.
    fn inline_base64(
        &self,
        data: &str,
        param: &str,
        budget: &mut Budget,
    ) -> Result<bytes::Bytes, ApiError> {
        let cap = self.config.max_item_bytes.min(budget.bytes_left);
        if data.len() / 4 * 3 > cap.saturating_add(3) {
            return Err(media(
                MediaProblem::TooLarge,
                param,
                "media_too_large",
                format!("{param}: the audio is larger than the limit of {cap} bytes"),
            ));
        }
        let bytes = LENIENT_BASE64.decode(data.trim()).map_err(|e| {
            media(
                MediaProblem::Invalid,
                param,
                "invalid_base64",
                format!("{param}: `data` is not valid base64: {e}"),
            )
        })?;
        budget.bytes_left = budget.bytes_left.saturating_sub(bytes.len());
        Ok(bytes::Bytes::from(bytes))
    }

    /// Runs a decoder on the blocking pool, at most `decode_concurrency` at once, within the
    /// decode deadline (the wait for a slot included).
    async fn decode<T, F>(&self, param: &str, work: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, MediaError> + Send + 'static,
    {
        self.decode_with(param, work, from_media).await
    }

    /// [`Self::decode`] for work with its own error type, mapped by `to_api`.
    async fn decode_with<T, E, F>(
        &self,
        param: &str,
        work: F,
        to_api: fn(E, &str) -> ApiError,
    ) -> Result<T, ApiError>
    where
        T: Send + 'static,
        E: Send + 'static,
        F: FnOnce() -> Result<T, E> + Send + 'static,
    {
        let limit = Duration::from_secs_f64(self.config.decode_timeout_secs);
        let deadline = Instant::now() + limit;
        let permit = tokio::time::timeout_at(deadline, self.decode_slots.clone().acquire_owned())
            .await
            .map_err(|_| {
                ApiError::RateLimited("All media decoders are busy; retry shortly.".to_owned())
            })?
            .map_err(|_| ApiError::Internal("media decode pool closed".to_owned()))?;
        let span = tracing::Span::current();
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            span.in_scope(work)
        });
        match tokio::time::timeout_at(deadline, task).await {
            Err(_) => Err(media(
                MediaProblem::Undecodable,
                param,
                "media_decode_timeout",
                format!(
                    "{param}: decoding took longer than {:.0} s",
                    limit.as_secs_f64()
                ),
            )),
            // A decoder that panics did so on this file's bytes (fuzzing found such inputs in
            // third-party codecs): the file is at fault, and the worker thread survives.
            Ok(Err(join)) if join.is_panic() => {
                tracing::warn!(%param, "media decoder panicked on this input");
                Err(media(
                    MediaProblem::Undecodable,
                    param,
                    "media_decoder_failed",
                    format!("{param}: the file could not be decoded (the decoder failed on it)"),
                ))
            }
            Ok(Err(join)) => Err(ApiError::Internal(format!("media decoder stopped: {join}"))),
            Ok(Ok(result)) => result.map_err(|e| to_api(e, param)),
        }
    }
}

fn take(left: &mut usize, param: &str, noun: &str) -> Result<(), ApiError> {
    if *left == 0 {
        return Err(media(
            MediaProblem::TooLarge,
            param,
            "too_many_media_items",
            format!("{param}: too many {noun} parts in one request"),
        ));
    }
    *left -= 1;
    Ok(())
}

fn role(role: ChatRole) -> Role {
    match role {
        ChatRole::System => Role::System,
        ChatRole::Developer => Role::Developer,
        ChatRole::User => Role::User,
        ChatRole::Assistant => Role::Assistant,
        ChatRole::Tool => Role::Tool,
        ChatRole::Function => Role::Function,
    }
}

fn modality_noun(modality: Modality) -> &'static str {
    match modality {
        Modality::Text => "text",
        Modality::Image => "image",
        Modality::Audio => "audio",
        Modality::Video => "video",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    fn normalizer() -> Normalizer {
        Normalizer::new(&MediaConfig::default()).unwrap_or_else(|e| unreachable!("{e}"))
    }

    fn to_api(message: String, param: &str) -> ApiError {
        ApiError::invalid(message, Some(param))
    }

    #[tokio::test]
    async fn a_decoder_that_panics_on_a_file_is_a_422_naming_the_part() {
        let work = || -> Result<(), String> { std::panic::panic_any("codec bug") };
        let err = normalizer()
            .decode_with("messages[0].content[1]", work, to_api)
            .await
            .err()
            .unwrap_or_else(|| unreachable!("the panic was not reported"));
        assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body = format!("{err:?}");
        assert!(body.contains("media_decoder_failed"), "{body}");
        assert!(body.contains("messages[0].content[1]"), "{body}");
    }

    #[tokio::test]
    async fn decoder_errors_go_through_the_callers_mapping() {
        let err = normalizer()
            .decode_with("p", || Err::<(), _>("bad bytes".to_owned()), to_api)
            .await
            .err()
            .unwrap_or_else(|| unreachable!("the error was not reported"));
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    }
}
