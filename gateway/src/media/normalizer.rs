//! The per-request media pass: budgets (item counts, bytes), fetching, decoding on the blocking
//! pool behind a semaphore with a deadline, and the accounting reported as `usage.media`.

use super::contract::MediaContract;
use super::decode_pool::{DecodeLoad, DecodePool};
use super::error::{MediaProblem, NormalizeError};
use super::error::{from_fetch, media};
use super::limits::{Budget, Counted, lowered_contract};
use super::report::{audio_item, image_item, output_name};
use super::{spans, video};
use omnigate_backend::{ContentPart, ImagePart, Message, MessageContent, Modality, Role, Video};
use omnigate_config::MediaConfig;
use omnigate_fetch::{FetchError, FetchPolicy, Fetcher, Source};
use omnigate_media::Detail;
use omnigate_openapi::{
    ChatMessage, ChatRole, ContentPart as ApiPart, ImageItem, MediaLimits, MediaUsage,
    MessageContent as ApiContent, NormalizedItem, VideoItem,
};
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::time::Duration;

/// The `input_audio.format` values accepted (a hint for the probe; the bytes decide).
const INPUT_AUDIO_FORMATS: [&str; 6] = ["wav", "mp3", "flac", "ogg", "m4a", "webm"];

/// Shared media machinery: one fetcher (pooled clients) and one decode semaphore per process.
pub struct Normalizer {
    fetcher: Fetcher,
    decoders: DecodePool,
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

/// The model a request's media is for: what the media pass needs of it (its name for
/// messages, the modalities it takes, its contract), and nothing of how it is served.
#[derive(Debug, Clone, Copy)]
pub struct MediaTarget<'a> {
    /// The public name.
    pub name: &'a str,
    /// The input modalities it takes.
    pub modalities: &'a BTreeSet<Modality>,
    /// How its media must look.
    pub contract: &'a MediaContract,
}

/// The model as one request sees it: its modalities, and its media contract under the
/// request's `media_limits`.
struct Recipient<'a> {
    model: MediaTarget<'a>,
    media: Cow<'a, MediaContract>,
    /// The request set `max_image_side`, which bounds `detail: original` too.
    side_limited: bool,
    /// What the model takes of a video (`None`: videos are refused).
    video: Option<video::Wanted>,
}

impl Normalizer {
    /// Builds the fetcher and the decode pool limit from `[media]`.
    pub fn new(config: &MediaConfig) -> Result<Self, String> {
        let fetcher = Fetcher::new().map_err(|e| format!("cannot build the media fetcher: {e}"))?;
        Ok(Self {
            fetcher,
            decoders: DecodePool::new(config),
            config: config.clone(),
        })
    }

    /// How busy the media decoders are now.
    pub fn decode_load(&self) -> DecodeLoad {
        self.decoders.load()
    }

    /// Converts the conversation for `model`, normalizing every media part under the server's
    /// limits, lowered where the request's `limits` ask.
    pub async fn messages(
        &self,
        messages: Vec<ChatMessage>,
        model: MediaTarget<'_>,
        limits: Option<&MediaLimits>,
    ) -> Result<Normalized, NormalizeError> {
        if messages.is_empty() {
            return Err(NormalizeError::invalid(
                "`messages` must contain at least one message.",
                Some("messages"),
            ));
        }
        let mut budget = Budget::new(&self.config, limits)?;
        let media = match limits {
            None => Cow::Borrowed(model.contract),
            Some(limits) => Cow::Owned(lowered_contract(model.contract, limits)?),
        };
        let to = Recipient {
            model,
            video: video_wanted(model, &media),
            media,
            side_limited: limits.is_some_and(|l| l.max_image_side.is_some()),
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
                        // Boxed: fetching and decoding make a large future, and the messages'
                        // future (moved whole into the chat handler's state, and with it into
                        // every layer's) would otherwise carry its size on text-only requests.
                        Box::pin(self.part(
                            part,
                            &to,
                            &param,
                            &mut budget,
                            &mut out,
                            &mut converted,
                        ))
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
        to: &Recipient<'_>,
        param: &str,
        budget: &mut Budget,
        out: &mut Normalized,
        parts: &mut Vec<ContentPart>,
    ) -> Result<(), NormalizeError> {
        let modality = match &part {
            ApiPart::Text { .. } => Modality::Text,
            ApiPart::ImageUrl { .. } => Modality::Image,
            ApiPart::InputAudio { .. } | ApiPart::AudioUrl { .. } => Modality::Audio,
            ApiPart::VideoUrl { .. } => Modality::Video,
        };
        let part_type = part.type_name();
        let refused = || {
            NormalizeError::invalid(
                format!(
                    "The model `{}` does not accept {} input (part type `{part_type}`).",
                    to.model.name,
                    modality_noun(modality),
                ),
                Some(param),
            )
        };
        // A video is welcome wherever its contract can adapt it (checked below); the rest need
        // their modality.
        if modality != Modality::Video && !to.model.modalities.contains(&modality) {
            return Err(refused());
        }
        match part {
            ApiPart::Text { text } => parts.push(ContentPart::Text(text)),
            ApiPart::ImageUrl { image_url } => {
                budget.take(Counted::Image, param)?;
                let detail = match image_url.detail.as_deref() {
                    None => None,
                    Some(value) => Some(Detail::parse(value).ok_or_else(|| {
                        NormalizeError::invalid(
                            "`detail` must be one of auto, low, high, original.",
                            Some(&format!("{param}.image_url.detail")),
                        )
                    })?),
                };
                // `original` skips the size box; a side the request asked for still holds.
                let detail = match detail {
                    Some(Detail::Original) if to.side_limited => Some(Detail::High),
                    other => other,
                };
                let timeout = self.config.fetch.image_timeout_secs;
                // Awaited where it is made: a future bound to a local first takes its room in
                // the request's future twice (rustc keeps both slots), and the fetch is large.
                let (bytes, source) = self
                    .fetch(image_url.url, timeout, param, "image", budget)
                    .await?;
                let policy = to.media.image.clone();
                let input_bytes = bytes.len() as u64;
                let span = spans::decode(param, "image", bytes.len());
                let (image, report) = self
                    .decoders
                    .run(param, move || {
                        omnigate_media::normalize_image(&bytes, &policy, detail)
                    })
                    .await?;
                let item = image_item(&report, &image);
                spans::record_image(span, &item);
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
                budget.take(Counted::Audio, param)?;
                if !INPUT_AUDIO_FORMATS.contains(&input_audio.format.as_str()) {
                    return Err(NormalizeError::invalid(
                        format!(
                            "`format` must be one of {}.",
                            INPUT_AUDIO_FORMATS.join(", ")
                        ),
                        Some(&format!("{param}.input_audio.format")),
                    ));
                }
                let span = spans::fetch(param, "audio");
                let bytes = self.inline_base64(input_audio.data, param, budget).await?;
                spans::fetched(span, "inline", bytes.len());
                let hint = Some(input_audio.format);
                let audio = self.audio(bytes, hint, "inline".to_owned(), to, param, out);
                parts.push(audio.await?);
            }
            ApiPart::AudioUrl { audio_url } => {
                budget.take(Counted::Audio, param)?;
                let timeout = self.config.fetch.audio_timeout_secs;
                let (bytes, source) = self
                    .fetch(audio_url.url, timeout, param, "audio", budget)
                    .await?;
                parts.push(self.audio(bytes, None, source, to, param, out).await?);
            }
            ApiPart::VideoUrl { video_url } => {
                let wanted = to.video.ok_or_else(refused)?;
                budget.take(Counted::Video, param)?;
                let timeout = self.config.fetch.video_timeout_secs;
                let (bytes, source) = self
                    .fetch(video_url.url, timeout, param, "video", budget)
                    .await?;
                self.video(bytes, source, wanted, to, param, out, parts)
                    .await?;
            }
        }
        Ok(())
    }

    /// Samples a video and adds it as a video part, or, for a model without the video modality,
    /// as what `wanted` says it takes: its frames as pictures and/or its sound track.
    #[allow(clippy::too_many_arguments)] // private plumbing of one request's state, called once
    async fn video(
        &self,
        bytes: bytes::Bytes,
        source: String,
        wanted: video::Wanted,
        to: &Recipient<'_>,
        param: &str,
        out: &mut Normalized,
        parts: &mut Vec<ContentPart>,
    ) -> Result<(), NormalizeError> {
        let as_video = to.model.modalities.contains(&Modality::Video);
        let contract = MediaContract::clone(&to.media);
        let input_bytes = bytes.len() as u64;
        let span = spans::decode(param, "video", bytes.len());
        // A video's keyframe runs can be decoded at once, on as many of the pool's slots as are
        // free (a sound track alone is one decoder).
        let extra = if wanted.frames { usize::MAX } else { 0 };
        let sampled = self
            .decoders
            .run_wide_with(
                param,
                extra,
                move |threads| video::sample(&bytes, &contract, wanted, threads),
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
            output: output_name(&to.media.image.output).to_owned(),
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
                delivered_as: match (as_video, wanted.frames) {
                    (true, _) => "video",
                    (false, true) => "images",
                    (false, false) => "audio",
                }
                .to_owned(),
            }),
        });
        if let Some(item) = out.items.last().and_then(|item| item.video.as_ref()) {
            spans::record_video(span, item, sampled.frames.len(), sampled.pixels);
        }
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
        model: MediaTarget<'_>,
        param: &str,
    ) -> Result<omnigate_backend::Audio, NormalizeError> {
        if bytes.is_empty() {
            return Err(media(
                MediaProblem::Invalid,
                param,
                "empty_media",
                format!("{param}: the uploaded file is empty"),
            ));
        }
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
        let policy = model.contract.audio.clone();
        let span = spans::decode(param, "audio", bytes.len());
        let (audio, report) = self
            .decoders
            .run(param, move || {
                omnigate_media::normalize_audio(&bytes, hint.as_deref(), &policy)
            })
            .await?;
        spans::record_audio(span, &report);
        Ok(audio)
    }

    async fn audio(
        &self,
        bytes: bytes::Bytes,
        hint: Option<String>,
        source: String,
        to: &Recipient<'_>,
        param: &str,
        out: &mut Normalized,
    ) -> Result<ContentPart, NormalizeError> {
        let policy = to.media.audio.clone();
        let input_bytes = bytes.len() as u64;
        let span = spans::decode(param, "audio", bytes.len());
        let (audio, report) = self
            .decoders
            .run(param, move || {
                omnigate_media::normalize_audio(&bytes, hint.as_deref(), &policy)
            })
            .await?;
        spans::record_audio(span, &report);
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

    /// Fetches a URL under the request's remaining byte budget, in the part's `media.fetch`
    /// span.
    async fn fetch(
        &self,
        url: String,
        timeout_secs: f64,
        param: &str,
        kind: &'static str,
        budget: &mut Budget,
    ) -> Result<(bytes::Bytes, String), NormalizeError> {
        let span = spans::fetch(param, kind);
        let fetch = &self.config.fetch;
        let policy = FetchPolicy {
            max_bytes: budget.next_item_cap(),
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
        budget.spend(fetched.bytes.len());
        let source = match fetched.source {
            Source::Data => "data",
            Source::Http { .. } => "http",
            Source::File => "file",
        };
        spans::fetched(span, source, fetched.bytes.len());
        Ok((fetched.bytes, source.to_owned()))
    }

    /// Decodes an inline base64 field under the request's byte budget, by the rules of a
    /// `data:` URL's payload (large ones off the async executor).
    async fn inline_base64(
        &self,
        data: String,
        param: &str,
        budget: &mut Budget,
    ) -> Result<bytes::Bytes, NormalizeError> {
        let cap = budget.next_item_cap();
        let bytes = omnigate_fetch::decode_base64(data, cap)
            .await
            .map_err(|e| match e {
                FetchError::TooLarge { .. } => media(
                    MediaProblem::TooLarge,
                    param,
                    "media_too_large",
                    format!("{param}: the audio is larger than the limit of {cap} bytes"),
                ),
                FetchError::InvalidData { .. } => media(
                    MediaProblem::Invalid,
                    param,
                    "invalid_base64",
                    format!("{param}: `data` is not valid base64"),
                ),
                other => from_fetch(other, param),
            })?;
        budget.spend(bytes.len());
        Ok(bytes)
    }
}

/// What `model` takes of a video under `media`: the video itself, or (when the contract adapts
/// videos) its frames as pictures and/or its sound track; `None` when nothing, and the part is
/// refused.
impl MediaTarget<'_> {
    /// Whether the model takes every part of `messages` (a video counts where its contract
    /// can adapt it to what the model takes).
    pub fn takes_all(&self, messages: &[ChatMessage]) -> bool {
        let parts = messages.iter().filter_map(|m| match &m.content {
            Some(ApiContent::Parts(parts)) => Some(parts),
            _ => None,
        });
        parts.flatten().all(|part| match part {
            ApiPart::Text { .. } => self.modalities.contains(&Modality::Text),
            ApiPart::ImageUrl { .. } => self.modalities.contains(&Modality::Image),
            ApiPart::InputAudio { .. } | ApiPart::AudioUrl { .. } => {
                self.modalities.contains(&Modality::Audio)
            }
            ApiPart::VideoUrl { .. } => video_wanted(*self, self.contract).is_some(),
        })
    }
}

fn video_wanted(model: MediaTarget<'_>, media: &MediaContract) -> Option<video::Wanted> {
    let takes = |m: Modality| model.modalities.contains(&m);
    let contract = &media.video;
    let audio = contract.extract_audio && takes(Modality::Audio);
    if takes(Modality::Video) {
        return Some(video::Wanted {
            frames: true,
            audio,
        });
    }
    let frames = takes(Modality::Image);
    (contract.adapt && (frames || audio)).then_some(video::Wanted { frames, audio })
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
