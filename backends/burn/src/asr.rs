//! Speech recognition with Whisper: sound is cut into windows of at most 30 s at the silences
//! Silero VAD finds, and windows (from this and concurrent requests) are decoded in batches.
//! Stretches with no speech are never decoded, so silence transcribes as nothing instead of a
//! hallucinated sentence.

use std::path::Path;
use std::sync::Arc;

use burn::tensor::Device;
use futures::StreamExt;
use omnigate_backend::{
    BackendError, ChatRequest, SegmentDecoding, TranscriptionEvent, TranscriptionRequest,
    TranscriptionResponse, TranscriptionSegment, TranscriptionStream,
};
use omnigate_silero::SpeechSegment;
use omnigate_whisper::{Whisper, WindowTranscript};

use crate::batcher::{BatchModel, Batcher};
use crate::inputs::SAMPLE_RATE;

/// The longest window Whisper takes.
const WINDOW_SAMPLES: usize = 30 * SAMPLE_RATE as usize;
/// Sound kept on each side of a speech segment, so words are not clipped at the cut.
const PAD_SAMPLES: usize = SAMPLE_RATE as usize / 5;
/// Samples per 10 ms frame (Whisper's mel hop), the unit of a segment's `seek`.
const SAMPLES_PER_FRAME: usize = SAMPLE_RATE as usize / 100;

/// Whisper on its worker thread.
pub(crate) struct AsrModel {
    model: Whisper,
}

impl AsrModel {
    pub(crate) fn load(dir: &Path, device: &Device) -> Result<Self, BackendError> {
        let model =
            Whisper::load(dir, device).map_err(|e| BackendError::Unavailable(e.to_string()))?;
        Ok(Self { model })
    }
}

impl BatchModel for AsrModel {
    type Input = Arc<[f32]>;
    type Output = WindowTranscript;

    /// Every window costs a full 30 s encoder pass, whatever its length.
    fn cost(_: &Arc<[f32]>) -> usize {
        1
    }

    fn run(&mut self, inputs: Vec<Arc<[f32]>>) -> Vec<Result<WindowTranscript, BackendError>> {
        let windows: Vec<&[f32]> = inputs.iter().map(|w| &w[..]).collect();
        match self.model.transcribe_windows(&windows) {
            Ok(transcripts) => transcripts.into_iter().map(Ok).collect(),
            Err(e) => {
                let message = format!("speech recognition: {e}");
                inputs
                    .iter()
                    .map(|_| Err(BackendError::Internal(message.clone())))
                    .collect()
            }
        }
    }
}

/// The two models a transcription uses.
pub(crate) struct Asr {
    pub(crate) vad: Batcher<Arc<[f32]>, Vec<SpeechSegment>>,
    pub(crate) whisper: Batcher<Arc<[f32]>, WindowTranscript>,
}

/// A window to decode: where it starts in the clip, and its samples.
struct Window {
    offset: usize,
    samples: Arc<[f32]>,
}

impl Asr {
    /// Transcribes 16 kHz mono `samples` window by window: a delta for each window's text as
    /// soon as it and the windows before it are recognized (all windows run concurrently, so
    /// they batch), then the whole transcript. The plain answer is that stream's last event.
    async fn stream_samples(
        &self,
        samples: Arc<[f32]>,
    ) -> Result<TranscriptionStream, BackendError> {
        let duration_secs = samples.len() as f64 / f64::from(SAMPLE_RATE);
        let seconds = samples.len().div_ceil(SAMPLE_RATE as usize);
        let speech = self.vad.call(samples.clone(), seconds).await?;
        let whisper = self.whisper.clone();
        let recognized = futures::stream::iter(windows(&samples, &speech))
            .map(move |window| {
                let whisper = whisper.clone();
                async move {
                    let transcript = whisper.call(window.samples.clone(), 1).await?;
                    Ok::<_, BackendError>((window.offset, transcript))
                }
            })
            .buffered(usize::MAX);
        let mut done = TranscriptionResponse {
            text: String::new(),
            language: Some("en".into()),
            duration_secs,
            segments: Vec::new(),
        };
        let events = recognized
            .map(Some)
            .chain(futures::stream::once(async { None }))
            .filter_map(move |item| {
                let event = match item {
                    Some(Ok((offset, transcript))) => {
                        let text = transcript.text.trim();
                        let delta = match (text.is_empty(), done.text.is_empty()) {
                            (true, _) => None,
                            (false, true) => Some(text.to_owned()),
                            (false, false) => Some(format!(" {text}")),
                        };
                        if let Some(delta) = &delta {
                            done.text.push_str(delta);
                        }
                        done.segments
                            .extend(timed(offset, &transcript, duration_secs));
                        delta.map(|d| Ok(TranscriptionEvent::Delta(d)))
                    }
                    Some(Err(e)) => Some(Err(e)),
                    None => Some(Ok(TranscriptionEvent::Done(std::mem::take(&mut done)))),
                };
                futures::future::ready(event)
            });
        Ok(Box::pin(events))
    }

    /// The whole transcript of `samples`.
    async fn transcribe_samples(
        &self,
        samples: Arc<[f32]>,
    ) -> Result<TranscriptionResponse, BackendError> {
        let mut events = self.stream_samples(samples).await?;
        while let Some(event) = events.next().await {
            if let TranscriptionEvent::Done(done) = event? {
                return Ok(done);
            }
        }
        Err(BackendError::Internal(
            "the transcription ended without its result".into(),
        ))
    }

    /// `stream=true` on `/v1/audio/transcriptions`.
    pub(crate) async fn transcribe_stream(
        &self,
        request: TranscriptionRequest,
    ) -> Result<TranscriptionStream, BackendError> {
        check_language(&request)?;
        self.stream_samples(crate::inputs::mono_16k(&request.audio)?)
            .await
    }

    /// `/v1/audio/transcriptions` and `/translations` (an English-only model: the same).
    pub(crate) async fn transcribe(
        &self,
        request: TranscriptionRequest,
    ) -> Result<TranscriptionResponse, BackendError> {
        check_language(&request)?;
        self.transcribe_samples(crate::inputs::mono_16k(&request.audio)?)
            .await
    }

    /// A chat request's sound clips (a video's audio track included), transcribed, one clip
    /// per line.
    pub(crate) async fn answer(&self, request: &ChatRequest) -> Result<String, BackendError> {
        let clips = crate::inputs::audio_clips(request)?;
        let transcripts =
            futures::future::try_join_all(clips.into_iter().map(|c| self.transcribe_samples(c)))
                .await?;
        Ok(transcripts
            .into_iter()
            .map(|t| t.text)
            .collect::<Vec<_>>()
            .join("\n"))
    }
}

/// A window's segments, timed from the clip's start, each with the window's decoding details
/// as Whisper reports them: `seek` is where the window starts, in 10 ms frames.
fn timed(
    offset: usize,
    transcript: &WindowTranscript,
    duration_secs: f64,
) -> impl Iterator<Item = TranscriptionSegment> + '_ {
    let seek = (offset / SAMPLES_PER_FRAME) as u64;
    let offset = offset as f64 / f64::from(SAMPLE_RATE);
    transcript
        .segments
        .iter()
        .filter(|s| !s.text.is_empty())
        .map(move |s| TranscriptionSegment {
            start_secs: offset + f64::from(s.start),
            end_secs: (offset + f64::from(s.end)).min(duration_secs),
            text: s.text.clone(),
            decoding: Some(SegmentDecoding {
                seek,
                tokens: s.tokens.clone(),
                temperature: f64::from(Whisper::TEMPERATURE),
                avg_logprob: f64::from(transcript.avg_logprob),
                compression_ratio: f64::from(transcript.compression_ratio),
                no_speech_prob: f64::from(transcript.no_speech_prob),
            }),
        })
}

/// An English-only model refuses other languages rather than answer in the wrong one.
fn check_language(request: &TranscriptionRequest) -> Result<(), BackendError> {
    match request.language.as_deref() {
        Some(language) if !language.eq_ignore_ascii_case("en") => Err(crate::rejected(
            &format!("this is an English-only model; `language` = {language:?} cannot be served"),
            "language",
        )),
        _ => Ok(()),
    }
}

/// Cuts `samples` into windows of at most 30 s holding the speech segments: consecutive
/// segments share a window while they fit, cuts fall in the silence between them, and a
/// single segment longer than a window is split at window length. No speech, no windows.
fn windows(samples: &Arc<[f32]>, speech: &[SpeechSegment]) -> Vec<Window> {
    let at = |seconds: f32| ((seconds.max(0.0) * SAMPLE_RATE as f32) as usize).min(samples.len());
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for segment in speech {
        let start = at(segment.start).saturating_sub(PAD_SAMPLES);
        let end = (at(segment.end) + PAD_SAMPLES).min(samples.len());
        if start >= end {
            continue;
        }
        match spans.last_mut() {
            Some(last) if end.saturating_sub(last.0) <= WINDOW_SAMPLES => last.1 = last.1.max(end),
            _ => spans.push((start.max(spans.last().map_or(0, |l| l.1)), end)),
        }
    }
    spans
        .into_iter()
        .flat_map(|(start, end)| {
            (start..end)
                .step_by(WINDOW_SAMPLES)
                .map(move |s| (s, (s + WINDOW_SAMPLES).min(end)))
        })
        .map(|(start, end)| Window {
            offset: start,
            samples: Arc::from(&samples[start..end]),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(start: f32, end: f32) -> SpeechSegment {
        SpeechSegment { start, end }
    }

    fn spans(seconds: f32, speech: &[SpeechSegment]) -> Vec<(f32, f32)> {
        let samples: Arc<[f32]> = vec![0.0; (seconds * 16_000.0) as usize].into();
        windows(&samples, speech)
            .iter()
            .map(|w| {
                let start = w.offset as f32 / 16_000.0;
                (start, start + w.samples.len() as f32 / 16_000.0)
            })
            .collect()
    }

    #[test]
    fn segments_carry_their_window_s_start_in_frames_and_its_statistics() {
        let window = WindowTranscript {
            segments: vec![omnigate_whisper::Segment {
                start: 0.5,
                end: 2.0,
                text: "Hello.".into(),
                tokens: vec![50388, 15496, 13, 50463],
            }],
            text: "Hello.".into(),
            tokens: 4,
            avg_logprob: -0.25,
            no_speech_prob: 0.125,
            compression_ratio: 0.5,
        };
        // The window starts 12.345 s into the clip: frame 1234.
        let segments: Vec<_> = timed(197_520, &window, 60.0).collect();
        assert_eq!(segments.len(), 1);
        assert!((segments[0].start_secs - 12.845).abs() < 1e-9);
        let decoding = segments[0].decoding.clone().unwrap();
        assert_eq!(decoding.seek, 1234);
        assert_eq!(decoding.tokens, [50388, 15496, 13, 50463]);
        assert_eq!((decoding.temperature, decoding.avg_logprob), (0.0, -0.25));
        assert_eq!(
            (decoding.no_speech_prob, decoding.compression_ratio),
            (0.125, 0.5)
        );
    }

    #[test]
    fn no_speech_means_no_windows() {
        assert!(spans(60.0, &[]).is_empty());
    }

    #[test]
    fn nearby_segments_share_a_window_and_far_ones_do_not() {
        let got = spans(100.0, &[seg(1.0, 5.0), seg(6.0, 20.0), seg(40.0, 45.0)]);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(
            (got[0].0 - 0.8).abs() < 1e-3 && (got[0].1 - 20.2).abs() < 1e-3,
            "{got:?}"
        );
        assert!((got[1].0 - 39.8).abs() < 1e-3, "{got:?}");
    }

    #[test]
    fn every_window_fits_and_long_speech_is_split() {
        let got = spans(100.0, &[seg(0.0, 75.0)]);
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got.iter().all(|(s, e)| e - s <= 30.0 + 1e-3), "{got:?}");
        assert!((got[2].1 - 75.2).abs() < 1e-3, "{got:?}");
    }

    #[test]
    fn windows_never_overlap() {
        let got = spans(100.0, &[seg(0.0, 29.9), seg(30.0, 31.0), seg(31.1, 50.0)]);
        for pair in got.windows(2) {
            assert!(pair[0].1 <= pair[1].0 + 1e-3, "{got:?}");
        }
    }
}
