//! A request's media limits: the server's `[media]` ceilings and the model's contract, lowered
//! (never raised) by the request's `media_limits`, and what is left of them as parts are read.

use super::contract::MediaContract;
use super::error::media;
use super::error::{MediaProblem, NormalizeError};
use omnigate_config::MediaConfig;
use omnigate_openapi::MediaLimits;
use std::fmt::Display;

/// What one request may still consume.
pub(crate) struct Budget {
    /// Largest single item, in bytes.
    item_bytes: usize,
    /// Media bytes the request may still bring.
    bytes_left: usize,
    images: usize,
    audio: usize,
    videos: usize,
}

/// The kinds of part that are counted.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Counted {
    Image,
    Audio,
    Video,
}

impl Budget {
    /// The server's ceilings, lowered where `limits` asks.
    pub(crate) fn new(
        config: &MediaConfig,
        limits: Option<&MediaLimits>,
    ) -> Result<Self, NormalizeError> {
        let none = MediaLimits::default();
        let asked = limits.unwrap_or(&none);
        Ok(Self {
            item_bytes: lower(
                "max_item_bytes",
                asked.max_item_bytes,
                config.max_item_bytes,
                0,
            )?,
            bytes_left: lower(
                "max_request_bytes",
                asked.max_request_bytes,
                config.max_request_bytes,
                0,
            )?,
            images: lower(
                "max_images",
                asked.max_images,
                config.max_images_per_request,
                0,
            )?,
            audio: lower(
                "max_audio",
                asked.max_audio,
                config.max_audio_per_request,
                0,
            )?,
            videos: lower(
                "max_videos",
                asked.max_videos,
                config.max_videos_per_request,
                0,
            )?,
        })
    }

    /// Counts one more part of `kind`, or refuses it when the request has had its share.
    pub(crate) fn take(&mut self, kind: Counted, param: &str) -> Result<(), NormalizeError> {
        let (left, noun) = match kind {
            Counted::Image => (&mut self.images, "image"),
            Counted::Audio => (&mut self.audio, "audio"),
            Counted::Video => (&mut self.videos, "video"),
        };
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

    /// The byte cap for the next item: the item limit or what the request has left.
    pub(crate) fn next_item_cap(&self) -> usize {
        self.item_bytes.min(self.bytes_left)
    }

    /// Charges `bytes` to the request.
    pub(crate) fn spend(&mut self, bytes: usize) {
        self.bytes_left = self.bytes_left.saturating_sub(bytes);
    }
}

/// `contract` under the contract limits of `limits` (picture side, sound and video length,
/// frames per video); each must be at most the contract's own.
pub(crate) fn lowered_contract(
    contract: &MediaContract,
    limits: &MediaLimits,
) -> Result<MediaContract, NormalizeError> {
    let mut lowered = contract.clone();
    let image = &mut lowered.image;
    image.max_side = lower("max_image_side", limits.max_image_side, image.max_side, 1)?;
    image.low_detail_side = image.low_detail_side.min(image.max_side);
    lowered.audio.max_seconds = lower_secs(
        "max_audio_seconds",
        limits.max_audio_seconds,
        lowered.audio.max_seconds,
    )?;
    let video = &mut lowered.video;
    video.max_seconds = lower_secs(
        "max_video_seconds",
        limits.max_video_seconds,
        video.max_seconds,
    )?;
    video.max_frames = lower(
        "max_video_frames",
        limits.max_video_frames,
        video.max_frames,
        1,
    )?;
    Ok(lowered)
}

/// `asked` when it is within `min..=ceiling`, `ceiling` when unset.
fn lower<T: PartialOrd + Display + Copy>(
    key: &str,
    asked: Option<T>,
    ceiling: T,
    min: T,
) -> Result<T, NormalizeError> {
    match asked {
        None => Ok(ceiling),
        Some(value) if value > ceiling => Err(above_ceiling(key, value, ceiling)),
        Some(value) if value < min => Err(NormalizeError::invalid(
            format!("`media_limits.{key}` must be at least {min}."),
            Some(&format!("media_limits.{key}")),
        )),
        Some(value) => Ok(value),
    }
}

/// [`lower`] for a duration in seconds, which must also be a positive number.
fn lower_secs(key: &str, asked: Option<f64>, ceiling: f64) -> Result<f64, NormalizeError> {
    match asked {
        Some(value) if !(value.is_finite() && value > 0.0) => Err(NormalizeError::invalid(
            format!("`media_limits.{key}` must be a positive number of seconds."),
            Some(&format!("media_limits.{key}")),
        )),
        _ => lower(key, asked, ceiling, 0.0),
    }
}

fn above_ceiling(key: &str, value: impl Display, ceiling: impl Display) -> NormalizeError {
    NormalizeError::invalid(
        format!(
            "`media_limits.{key}` is {value}, above the limit of {ceiling} here: a request may \
             lower media limits, never raise them."
        ),
        Some(&format!("media_limits.{key}")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(err: &NormalizeError) -> String {
        format!("{err:?}")
    }

    #[test]
    fn unset_limits_are_the_servers() {
        let config = MediaConfig::default();
        let budget = Budget::new(&config, None).unwrap();
        assert_eq!(budget.item_bytes, config.max_item_bytes);
        assert_eq!(budget.bytes_left, config.max_request_bytes);
        let contract = MediaContract::default();
        let same = lowered_contract(&contract, &MediaLimits::default()).unwrap();
        assert_eq!(same.video, contract.video);
        assert_eq!(same.image, contract.image);
    }

    #[test]
    fn a_request_lowers_counts_bytes_and_the_contract() {
        let limits = MediaLimits {
            max_item_bytes: Some(1000),
            max_images: Some(1),
            max_image_side: Some(256),
            max_audio_seconds: Some(5.0),
            max_video_frames: Some(2),
            ..MediaLimits::default()
        };
        let mut budget = Budget::new(&MediaConfig::default(), Some(&limits)).unwrap();
        assert_eq!(budget.next_item_cap(), 1000);
        budget.take(Counted::Image, "p").unwrap();
        let second = budget.take(Counted::Image, "q").unwrap_err();
        assert!(
            matches!(
                second,
                NormalizeError::Item {
                    problem: MediaProblem::TooLarge,
                    ..
                }
            ),
            "{second:?}"
        );
        let contract = lowered_contract(&MediaContract::default(), &limits).unwrap();
        assert_eq!(contract.image.max_side, 256);
        assert!(contract.image.low_detail_side <= 256);
        assert!((contract.audio.max_seconds - 5.0).abs() < f64::EPSILON);
        assert_eq!(contract.video.max_frames, 2);
    }

    #[test]
    fn a_request_cannot_raise_a_limit() {
        let config = MediaConfig::default();
        let raise = MediaLimits {
            max_videos: Some(config.max_videos_per_request + 1),
            ..MediaLimits::default()
        };
        let err = Budget::new(&config, Some(&raise)).err().unwrap();
        assert!(
            matches!(err, NormalizeError::InvalidRequest { .. }),
            "{err:?}"
        );
        assert!(
            body(&err).contains("media_limits.max_videos"),
            "{}",
            body(&err)
        );
        assert!(body(&err).contains("never raise"), "{}", body(&err));

        let contract = MediaContract::default();
        let frames = MediaLimits {
            max_video_frames: Some(contract.video.max_frames + 1),
            ..MediaLimits::default()
        };
        let err = lowered_contract(&contract, &frames).err().unwrap();
        assert!(
            body(&err).contains("media_limits.max_video_frames"),
            "{}",
            body(&err)
        );
    }

    #[test]
    fn nonsense_values_are_refused() {
        for limits in [
            MediaLimits {
                max_audio_seconds: Some(f64::NAN),
                ..MediaLimits::default()
            },
            MediaLimits {
                max_video_seconds: Some(-1.0),
                ..MediaLimits::default()
            },
            MediaLimits {
                max_image_side: Some(0),
                ..MediaLimits::default()
            },
        ] {
            let err = lowered_contract(&MediaContract::default(), &limits)
                .err()
                .unwrap();
            assert!(
                matches!(err, NormalizeError::InvalidRequest { .. }),
                "{limits:?}: {err:?}"
            );
        }
        // Zero is a limit like any other: no media bytes at all.
        let zero_bytes = MediaLimits {
            max_request_bytes: Some(0),
            ..MediaLimits::default()
        };
        let budget = Budget::new(&MediaConfig::default(), Some(&zero_bytes)).unwrap();
        assert_eq!(budget.next_item_cap(), 0);
    }
}
