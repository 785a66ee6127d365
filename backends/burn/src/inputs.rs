//! The media a chat request carries, in the forms the models take: pictures as RGB images,
//! sound as 16 kHz mono samples. The gateway's media pipeline has already decoded, checked and
//! shaped them to the model's contract; this only unwraps them.

use std::sync::Arc;

use image::RgbImage;
use omnigate_backend::{
    Audio, BackendError, ChatRequest, ContentPart, ImageData, MessageContent, Role,
};

use crate::rejected;

/// The sample rate Silero VAD and Whisper run at.
pub(crate) const SAMPLE_RATE: u32 = 16_000;

/// Every picture in the user's messages, in order; video frames count as pictures.
pub(crate) fn images(request: &ChatRequest) -> Result<Vec<RgbImage>, BackendError> {
    let mut out = Vec::new();
    for part in user_parts(request) {
        match part {
            ContentPart::Image(image) => out.push(rgb(&image.image)?),
            ContentPart::Video(video) => {
                for frame in &video.frames {
                    out.push(rgb(&frame.image)?);
                }
            }
            _ => {}
        }
    }
    if out.is_empty() {
        return Err(rejected(
            "this model reads text from pictures: send at least one `image_url` (or `video_url`) part",
            "messages",
        ));
    }
    Ok(out)
}

/// Every sound clip in the user's messages (a video's audio track included), as 16 kHz mono.
pub(crate) fn audio_clips(request: &ChatRequest) -> Result<Vec<Arc<[f32]>>, BackendError> {
    let mut out = Vec::new();
    for part in user_parts(request) {
        let audio = match part {
            ContentPart::Audio(audio) => audio,
            ContentPart::Video(video) => match &video.audio {
                Some(audio) => audio,
                None => continue,
            },
            _ => continue,
        };
        out.push(mono_16k(audio)?);
    }
    if out.is_empty() {
        return Err(rejected(
            "this model listens to sound: send at least one `input_audio` or `audio_url` part (or a video with sound)",
            "messages",
        ));
    }
    Ok(out)
}

/// The samples of `audio`, which the model's media contract makes 16 kHz mono.
pub(crate) fn mono_16k(audio: &Audio) -> Result<Arc<[f32]>, BackendError> {
    if audio.sample_rate != SAMPLE_RATE || audio.channels != 1 {
        return Err(BackendError::Internal(format!(
            "audio arrived as {} Hz, {} channel(s); this model's media contract must be \
             sample_rate = {SAMPLE_RATE}, channels = \"mono\"",
            audio.sample_rate, audio.channels
        )));
    }
    Ok(audio.samples.clone())
}

fn user_parts(request: &ChatRequest) -> impl Iterator<Item = &ContentPart> {
    request
        .messages
        .iter()
        .filter(|m| m.role == Role::User)
        .filter_map(|m| match &m.content {
            Some(MessageContent::Parts(parts)) => Some(parts.iter()),
            _ => None,
        })
        .flatten()
}

/// An RGB image from what the gateway produced. The bytes were written by the gateway's own
/// encoder (never the client's file), so decoding them here is safe and lossless for PNG.
fn rgb(image: &ImageData) -> Result<RgbImage, BackendError> {
    match image {
        ImageData::Encoded(encoded) => image::load_from_memory(&encoded.bytes)
            .map(|decoded| decoded.to_rgb8())
            .map_err(|e| BackendError::Internal(format!("decoding the normalized picture: {e}"))),
        ImageData::Tensor(_) => Err(BackendError::Internal(
            "pictures arrived as tensors; this model's media contract must use output = \"png\""
                .into(),
        )),
    }
}
