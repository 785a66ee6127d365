//! Voice activity detection with Silero VAD: concurrent clips advance through the network
//! together, one batched step per 32 ms chunk.

use std::path::Path;
use std::sync::Arc;

use burn::tensor::Device;
use omnigate_backend::{BackendError, ChatRequest};
use omnigate_silero::{SileroVad, SpeechSegment, VadParams, segments_from_probabilities};
use serde_json::json;

use crate::batcher::{BatchModel, Batcher};
use crate::inputs::SAMPLE_RATE;

/// Silero on its worker thread.
pub(crate) struct VadModel {
    model: SileroVad,
    params: VadParams,
}

/// The weights file inside the model's folder.
pub(crate) const WEIGHTS: &str = "silero_vad_16k.safetensors";

impl VadModel {
    pub(crate) fn load(dir: &Path, device: &Device) -> Result<Self, BackendError> {
        let model = SileroVad::load(&dir.join(WEIGHTS), device)
            .map_err(|e| BackendError::Unavailable(e.to_string()))?;
        Ok(Self {
            model,
            params: VadParams::default(),
        })
    }
}

impl BatchModel for VadModel {
    type Input = Arc<[f32]>;
    type Output = Vec<SpeechSegment>;

    /// One unit per started second of sound: the network runs once per 32 ms chunk.
    fn cost(input: &Arc<[f32]>) -> usize {
        input.len().div_ceil(SAMPLE_RATE as usize)
    }

    fn run(&mut self, inputs: Vec<Arc<[f32]>>) -> Vec<Result<Vec<SpeechSegment>, BackendError>> {
        let clips: Vec<&[f32]> = inputs.iter().map(|c| &c[..]).collect();
        match self.model.probabilities_batch(&clips) {
            Ok(probabilities) => probabilities
                .iter()
                .zip(&clips)
                .map(|(probs, clip)| {
                    Ok(segments_from_probabilities(probs, clip.len(), &self.params))
                })
                .collect(),
            Err(e) => {
                let message = format!("VAD: {e}");
                inputs
                    .iter()
                    .map(|_| Err(BackendError::Internal(message.clone())))
                    .collect()
            }
        }
    }
}

/// The speech segments of every clip in the request, as JSON:
/// `{"clips":[{"duration_secs":10.0,"segments":[{"start":0.5,"end":2.25}]}]}`.
pub(crate) async fn answer(
    batcher: &Batcher<Arc<[f32]>, Vec<SpeechSegment>>,
    request: &ChatRequest,
) -> Result<String, BackendError> {
    let clips = crate::inputs::audio_clips(request)?;
    let durations: Vec<f64> = clips
        .iter()
        .map(|c| c.len() as f64 / f64::from(SAMPLE_RATE))
        .collect();
    let calls = clips.into_iter().map(|clip| {
        let cost = VadModel::cost(&clip);
        batcher.call(clip, cost)
    });
    let results = futures::future::try_join_all(calls).await?;
    let clips: Vec<_> = results
        .iter()
        .zip(durations)
        .map(|(segments, duration)| {
            json!({
                "duration_secs": round_ms(duration),
                "segments": segments.iter().map(|s| json!({ "start": round_ms(f64::from(s.start)), "end": round_ms(f64::from(s.end)) })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(json!({ "clips": clips }).to_string())
}

/// Seconds to the millisecond: finer is noise at a 32 ms resolution.
fn round_ms(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}
