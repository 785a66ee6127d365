//! The whole Silero VAD v5 16 kHz network, run over batches of clips.

use std::path::Path;

use burn::tensor::{Device, Tensor};

use crate::VadError;
use crate::decoder::Decoder;
use crate::encoder::Encoder;
use crate::framing::{FFT_SIZE, FRAMES_PER_CHUNK, chunk_count, push_stft_frames};
use crate::lstm::{LstmCell, LstmState};
use crate::schedule::ClipSchedule;
use crate::weights::{WeightsFile, upload};

/// Chunks processed per block. The convolutional part of a whole block runs as one batch;
/// capping it bounds memory on hours of audio (about 16 KB of activations per chunk, so 64 MB
/// per block) while the matmuls stay large enough to run at full speed.
const MAX_BLOCK_CHUNKS: usize = 4096;

/// Encoder, LSTM cell and decoder with their weights on one device.
pub(crate) struct SileroNetwork {
    encoder: Encoder,
    lstm: LstmCell,
    decoder: Decoder,
    device: Device,
}

impl SileroNetwork {
    /// Loads every tensor of `silero_vad_16k.safetensors` onto `device`.
    pub(crate) fn load(path: &Path, device: &Device) -> Result<Self, VadError> {
        let mut file = WeightsFile::open(path)?;
        Ok(Self {
            encoder: Encoder::load(&mut file, device)?,
            lstm: LstmCell::load(&mut file, device)?,
            decoder: Decoder::load(&mut file, device)?,
            device: device.clone(),
        })
    }

    /// Per-chunk speech probabilities of each clip, each clip with its own fresh state.
    pub(crate) fn probabilities(&self, clips: &[&[f32]]) -> Result<Vec<Vec<f32>>, VadError> {
        let schedule = ClipSchedule::new(clips.iter().map(|clip| clip.len()));
        let mut outputs: Vec<Vec<f32>> = clips
            .iter()
            .map(|clip| Vec::with_capacity(chunk_count(clip.len())))
            .collect();
        let steps_per_block = (MAX_BLOCK_CHUNKS / clips.len().max(1)).max(1);
        let mut state = LstmState::zeros(schedule.active_at(0), &self.device);
        let mut block_start = 0;
        while block_start < schedule.steps() {
            let block_end = (block_start + steps_per_block).min(schedule.steps());
            let probabilities;
            (probabilities, state) =
                self.run_block(clips, &schedule, block_start..block_end, state)?;
            scatter(
                &schedule,
                block_start..block_end,
                probabilities,
                &mut outputs,
            );
            block_start = block_end;
        }
        Ok(outputs)
    }

    /// Runs time steps `steps` of every clip that has them, in step-major order.
    fn run_block(
        &self,
        clips: &[&[f32]],
        schedule: &ClipSchedule,
        steps: std::ops::Range<usize>,
        mut state: LstmState,
    ) -> Result<(Vec<f32>, LstmState), VadError> {
        let rows = schedule.rows(steps.clone());
        let mut frames = Vec::with_capacity(rows * FRAMES_PER_CHUNK * FFT_SIZE);
        for step in steps.clone() {
            for &clip in &schedule.ranked()[..schedule.active_at(step)] {
                push_stft_frames(clips[clip], step, &mut frames);
            }
        }
        let features = self.encoder.forward(upload(
            frames,
            [rows * FRAMES_PER_CHUNK, FFT_SIZE],
            &self.device,
        ));
        let projected = self.lstm.project_inputs(features);

        let mut hidden_states = Vec::with_capacity(steps.len());
        let mut row = 0;
        for step in steps {
            let active = schedule.active_at(step);
            state = state.keep_first(active);
            state = self
                .lstm
                .step(projected.clone().narrow(0, row, active), state);
            hidden_states.push(state.hidden.clone());
            row += active;
        }
        let probabilities = self
            .decoder
            .forward(Tensor::cat(hidden_states, 0))
            .try_into_data()
            .map_err(|e| VadError::Backend(format!("{e:?}")))?
            .try_into_vec::<f32>()
            .map_err(|e| VadError::Backend(format!("{e:?}")))?;
        Ok((probabilities, state))
    }
}

/// Hands the step-major `probabilities` of `steps` back to the clips they belong to.
fn scatter(
    schedule: &ClipSchedule,
    steps: std::ops::Range<usize>,
    probabilities: Vec<f32>,
    outputs: &mut [Vec<f32>],
) {
    let mut values = probabilities.into_iter();
    for step in steps {
        for &clip in &schedule.ranked()[..schedule.active_at(step)] {
            outputs[clip].extend(values.next());
        }
    }
}
