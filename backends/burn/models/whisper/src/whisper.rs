//! The public model: loading and batched transcription of ≤ 30 s windows.

use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use tokenizers::Tokenizer;

use crate::WhisperError;
use crate::compression::compression_ratio;
use crate::ct2::Ct2Model;
use crate::decode::{DecodedWindow, greedy_decode};
use crate::decoder::TextDecoder;
use crate::encoder::AudioEncoder;
use crate::mel::{LogMelFrontEnd, N_FRAMES, N_MELS, N_SAMPLES, SAMPLE_RATE};
use crate::segments::split_segments;
use crate::tokens::SpecialTokens;
use crate::weights::WeightLoader;

/// Whisper's `no_speech_threshold`.
const NO_SPEECH_THRESHOLD: f32 = 0.6;
/// Whisper's `logprob_threshold`: a confident decode is kept even if no-speech is likely.
const LOGPROB_THRESHOLD: f32 = -1.0;
/// Windows quieter than this RMS (−80 dBFS) are digital silence: nothing to decode, and
/// skipping them keeps the model from ever being asked to "hear" something in nothing.
const SILENCE_RMS: f32 = 1e-4;
/// English-only vocabularies have 51864 entries; multilingual ones need language and task
/// tokens in the prompt, which this decoder does not send.
const MULTILINGUAL_VOCAB: usize = 51_865;

/// A transcribed stretch of a window.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Start, seconds from the window start.
    pub start: f32,
    /// End, seconds from the window start.
    pub end: f32,
    /// The segment's text, trimmed.
    pub text: String,
    /// Its token ids, timestamps included (Whisper's segment `tokens`).
    pub tokens: Vec<u32>,
}

/// The transcription of one window, with the statistics of its decode that Whisper reports on
/// each of the window's segments (and uses to judge it).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WindowTranscript {
    /// Timed segments, in order.
    pub segments: Vec<Segment>,
    /// The whole window's text, trimmed (empty for silence).
    pub text: String,
    /// Tokens the decoder generated for the window (text and timestamps, not the end token).
    pub tokens: usize,
    /// Whisper's `avg_logprob`: the summed log-probabilities of the generated tokens and the
    /// end token, over their number (0 for a window not decoded).
    pub avg_logprob: f32,
    /// Whisper's `no_speech_prob`: the probability of `<|nospeech|>` at the first step (0 for
    /// a window not decoded).
    pub no_speech_prob: f32,
    /// Whisper's `compression_ratio` of the decoded text: UTF-8 bytes over zlib-compressed
    /// bytes (0 for no text).
    pub compression_ratio: f32,
}

/// Whisper (English-only) speech recognition loaded from a CTranslate2 model folder.
#[derive(Debug)]
pub struct Whisper {
    front_end: LogMelFrontEnd,
    encoder: AudioEncoder,
    decoder: TextDecoder,
    tokenizer: Tokenizer,
    special: SpecialTokens,
    device: Device,
}

impl Whisper {
    /// The audio sample rate `transcribe_windows` expects.
    pub const SAMPLE_RATE: u32 = SAMPLE_RATE as u32;
    /// The longest window, in seconds.
    pub const WINDOW_SECONDS: f32 = 30.0;
    /// The sampling temperature of every decode: decoding is greedy, with no fallback to
    /// hotter sampling.
    pub const TEMPERATURE: f32 = 0.0;

    /// Loads `model.bin`, `config.json` and `tokenizer.json` from `model_dir` onto `device`.
    pub fn load(model_dir: &Path, device: &Device) -> Result<Self, WhisperError> {
        let model = Ct2Model::read(&model_dir.join("model.bin"))?;
        if model.spec != "WhisperSpec" {
            return Err(WhisperError::Ct2Format(format!(
                "model spec is `{}`, expected `WhisperSpec`",
                model.spec
            )));
        }
        tracing::debug!(spec = %model.spec, revision = model.revision, "loading CTranslate2 Whisper");
        let weights = WeightLoader::new(&model, device);
        let encoder = AudioEncoder::load(&weights)?;
        let decoder = TextDecoder::load(&weights)?;
        drop(model);

        let tokenizer_path = model_dir.join("tokenizer.json");
        let tokenizer = Tokenizer::from_file(&tokenizer_path)
            .map_err(|e| WhisperError::Tokenizer(format!("{}: {e}", tokenizer_path.display())))?;
        let special = SpecialTokens::load(&tokenizer, &model_dir.join("config.json"))?;
        let vocab = decoder.vocab_size();
        if vocab >= MULTILINGUAL_VOCAB || vocab <= special.timestamp_begin as usize {
            return Err(WhisperError::BadVariable {
                name: "decoder/embeddings/weight".into(),
                problem: format!(
                    "vocabulary of {vocab} tokens is not an English-only Whisper vocabulary \
                     with timestamps from id {}",
                    special.timestamp_begin
                ),
            });
        }
        Ok(Self {
            front_end: LogMelFrontEnd::new(),
            encoder,
            decoder,
            tokenizer,
            special,
            device: device.clone(),
        })
    }

    /// Each window is ≤ 30 s of 16 kHz mono; all windows are encoded as one batch and
    /// decoded together (greedy, one decoder step for every unfinished window at once).
    pub fn transcribe_windows(
        &self,
        windows: &[&[f32]],
    ) -> Result<Vec<WindowTranscript>, WhisperError> {
        if let Some((index, window)) = windows
            .iter()
            .enumerate()
            .find(|(_, w)| w.len() > N_SAMPLES)
        {
            return Err(WhisperError::WindowTooLong {
                index,
                samples: window.len(),
                max: N_SAMPLES,
            });
        }
        let audible: Vec<usize> = (0..windows.len())
            .filter(|&i| rms(windows[i]) >= SILENCE_RMS)
            .collect();
        let mut transcripts = vec![WindowTranscript::default(); windows.len()];
        if audible.is_empty() {
            return Ok(transcripts);
        }

        let mut mel = Vec::with_capacity(audible.len() * N_MELS * N_FRAMES);
        for &i in &audible {
            mel.extend(self.front_end.log_mel(windows[i]));
        }
        let mel = Tensor::from_data(
            TensorData::new(mel, [audible.len(), N_MELS, N_FRAMES]),
            &self.device,
        );
        let audio = self.encoder.forward(mel)?;
        let decoded = greedy_decode(&self.decoder, &self.special, audio)?;
        for (&i, decoded) in audible.iter().zip(decoded) {
            let seconds = windows[i].len() as f32 / SAMPLE_RATE as f32;
            transcripts[i] = self.transcript(decoded, seconds)?;
        }
        Ok(transcripts)
    }

    /// Turns decoded tokens into text and segments, or nothing when the window is judged
    /// to hold no speech (Whisper's `no_speech_threshold` with `logprob_threshold`).
    fn transcript(
        &self,
        decoded: DecodedWindow,
        window_seconds: f32,
    ) -> Result<WindowTranscript, WhisperError> {
        let avg_logprob = decoded.avg_logprob();
        let text_tokens: Vec<u32> = decoded
            .tokens
            .iter()
            .copied()
            .filter(|&t| !self.special.is_timestamp(t))
            .collect();
        let text = self.decode_text(&text_tokens)?;
        let compression_ratio = compression_ratio(&text).map_err(WhisperError::Compress)?;
        tracing::debug!(
            no_speech_prob = decoded.no_speech_prob,
            avg_logprob,
            compression_ratio,
            tokens = decoded.tokens.len(),
            "whisper window decoded"
        );
        let window = WindowTranscript {
            tokens: decoded.tokens.len(),
            avg_logprob,
            no_speech_prob: decoded.no_speech_prob,
            compression_ratio,
            ..WindowTranscript::default()
        };
        if decoded.no_speech_prob > NO_SPEECH_THRESHOLD && avg_logprob < LOGPROB_THRESHOLD {
            return Ok(window);
        }
        let segments = split_segments(
            &decoded.tokens,
            self.special.timestamp_begin,
            window_seconds,
        )
        .into_iter()
        .map(|segment| {
            Ok(Segment {
                // Timestamps may point into the zero padding; keep them inside the audio.
                start: segment.start.min(window_seconds),
                end: segment.end.min(window_seconds),
                text: self.decode_text(&segment.text_tokens)?,
                tokens: segment.tokens,
            })
        })
        .collect::<Result<Vec<_>, WhisperError>>()?
        .into_iter()
        .filter(|segment| !segment.text.is_empty())
        .collect();
        Ok(WindowTranscript {
            segments,
            text,
            ..window
        })
    }

    fn decode_text(&self, tokens: &[u32]) -> Result<String, WhisperError> {
        let text = self
            .tokenizer
            .decode(tokens, true)
            .map_err(|e| WhisperError::Tokenizer(e.to_string()))?;
        Ok(text.trim().to_owned())
    }
}

fn rms(samples: &[f32]) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    let energy: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (energy / samples.len() as f64).sqrt() as f32
}
