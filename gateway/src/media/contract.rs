//! A model's media contract, resolved once at startup: the model's own overrides over
//! `[media.*]` over the built-in defaults, turned into the media crate's policies.

use omnigate_config::{
    AudioContract, ChannelMode, FitMode, ImageContract, ImageOutputKind, MediaConfig, ModelConfig,
    VideoAdapt, VideoContract,
};
use omnigate_media::{AudioPolicy, ImageOutput, ImagePolicy};

/// ImageNet statistics, the usual default for vision encoders.
const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// What a model wants each modality to look like.
#[derive(Debug, Clone)]
pub struct MediaContract {
    /// Pictures (also each sampled video frame).
    pub image: ImagePolicy,
    /// Sound (also a video's audio track).
    pub audio: AudioPolicy,
    /// Video sampling.
    pub video: VideoSampling,
    /// v2 tensor inputs made from media (`[models.NAME.inputs.INPUT]`), by input name.
    pub tensor_inputs: std::collections::BTreeMap<String, omnigate_config::TensorInput>,
}

/// How videos are sampled into frames.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoSampling {
    /// Frames per second, unless `frames` is set.
    pub fps: f64,
    /// Exactly this many frames, uniformly spread.
    pub frames: Option<u32>,
    /// Most frames passed on.
    pub max_frames: u32,
    /// Longest accepted video.
    pub max_seconds: f64,
    /// Widest/tallest accepted video.
    pub max_input_side: u32,
    /// Pass the audio track on when the model takes audio.
    pub extract_audio: bool,
    /// A model without the video modality gets what it does take of a video (frames as
    /// pictures, the sound track as audio) rather than a 400.
    pub adapt: bool,
}

impl MediaContract {
    /// The contract of `model` under the server-wide `media` section.
    pub fn resolve(media: &MediaConfig, model: &ModelConfig) -> Self {
        Self {
            image: image_policy(&media.image, &model.image),
            audio: audio_policy(&media.audio, &model.audio),
            video: video_sampling(&media.video, &model.video),
            tensor_inputs: model.inputs.clone(),
        }
    }
}

impl Default for MediaContract {
    fn default() -> Self {
        Self::resolve(&MediaConfig::default(), &default_model())
    }
}

fn default_model() -> ModelConfig {
    ModelConfig {
        tasks: Vec::new(),
        modalities: Vec::new(),
        deployments: Vec::new(),
        routing: omnigate_config::RoutingConfig::default(),
        fallbacks: Vec::new(),
        context_window_fallbacks: Vec::new(),
        image: ImageContract::default(),
        audio: AudioContract::default(),
        video: VideoContract::default(),
        prices: None,
        inputs: std::collections::BTreeMap::new(),
    }
}

fn image_policy(base: &ImageContract, model: &ImageContract) -> ImagePolicy {
    let defaults = ImagePolicy::default();
    let pick = |f: fn(&ImageContract) -> Option<u64>, default: u64| {
        f(model).or_else(|| f(base)).unwrap_or(default)
    };
    let side = |f: fn(&ImageContract) -> Option<u32>, default: u32| {
        f(model).or_else(|| f(base)).unwrap_or(default)
    };
    let fit = model.fit.or(base.fit).unwrap_or(FitMode::Fit);
    let output = match model
        .output
        .or(base.output)
        .unwrap_or(ImageOutputKind::Jpeg)
    {
        ImageOutputKind::Jpeg => ImageOutput::Jpeg {
            quality: model.jpeg_quality.or(base.jpeg_quality).unwrap_or(90),
        },
        ImageOutputKind::Png => ImageOutput::Png,
        ImageOutputKind::Tensor => {
            let [w, h] = model.tensor_size.or(base.tensor_size).unwrap_or([224, 224]);
            ImageOutput::Tensor {
                size: (w, h),
                mean: model.mean.or(base.mean).unwrap_or(IMAGENET_MEAN),
                std: model.std.or(base.std).unwrap_or(IMAGENET_STD),
            }
        }
    };
    let max_side = side(|c| c.max_side, defaults.max_side);
    ImagePolicy {
        max_side,
        max_pixels: pick(|c| c.max_pixels, defaults.max_pixels),
        // `low` never asks for more than `high` would.
        low_detail_side: side(|c| c.low_detail_side, defaults.low_detail_side).min(max_side),
        max_input_side: side(|c| c.max_input_side, defaults.max_input_side),
        // 40 Mpx (an 8K photo) rather than the media crate's 64: decoding is not streamed, so this
        // bounds the worst-case memory of one item.
        max_input_pixels: pick(|c| c.max_input_pixels, 40_000_000),
        fit: match fit {
            FitMode::Fit => omnigate_media::FitMode::Fit,
            FitMode::Pad => omnigate_media::FitMode::Pad,
            FitMode::Crop => omnigate_media::FitMode::Crop,
        },
        background: model
            .background
            .or(base.background)
            .unwrap_or(defaults.background),
        output,
    }
}

fn audio_policy(base: &AudioContract, model: &AudioContract) -> AudioPolicy {
    let defaults = AudioPolicy::default();
    AudioPolicy {
        sample_rate: model
            .sample_rate
            .or(base.sample_rate)
            .unwrap_or(defaults.sample_rate),
        channels: match model.channels.or(base.channels) {
            Some(ChannelMode::Keep) => omnigate_media::ChannelMode::Keep,
            Some(ChannelMode::Mono) | None => omnigate_media::ChannelMode::Mono,
        },
        max_seconds: model
            .max_seconds
            .or(base.max_seconds)
            .unwrap_or(defaults.max_seconds),
    }
}

fn video_sampling(base: &VideoContract, model: &VideoContract) -> VideoSampling {
    VideoSampling {
        fps: model.fps.or(base.fps).unwrap_or(1.0),
        frames: model.frames.or(base.frames),
        max_frames: model.max_frames.or(base.max_frames).unwrap_or(32),
        max_seconds: model.max_seconds.or(base.max_seconds).unwrap_or(600.0),
        max_input_side: model.max_input_side.or(base.max_input_side).unwrap_or(4096),
        extract_audio: model.extract_audio.or(base.extract_audio).unwrap_or(true),
        adapt: model.adapt.or(base.adapt).unwrap_or(VideoAdapt::Auto) == VideoAdapt::Auto,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_overrides_win_over_server_defaults_over_built_ins() {
        let toml = r#"
            [media.image]
            max_side = 1024
            jpeg_quality = 70
            [media.audio]
            sample_rate = 24000
            [models.m]
            [models.m.image]
            max_side = 448
            [[models.m.deployments]]
            kind = "openai"
            base_url = "http://h/v1"
        "#;
        let config = omnigate_config::load_str(toml, "t").unwrap();
        let contract = MediaContract::resolve(&config.media, &config.models["m"]);
        assert_eq!(contract.image.max_side, 448);
        assert_eq!(contract.image.output, ImageOutput::Jpeg { quality: 70 });
        assert_eq!(
            contract.image.low_detail_side, 448,
            "low detail is capped by max_side"
        );
        assert_eq!(contract.audio.sample_rate, 24_000);
        assert!((contract.video.fps - 1.0).abs() < f64::EPSILON);
    }
}
