//! Where decoded frames go: encoder delay is dropped, channels are mixed down and the result
//! resampled as they arrive (so memory is bounded by the output, not the source's rate or
//! channel count), and the duration cap is enforced on real decoded frames, whatever the header
//! claimed. Only the frames the container calls end padding wait (at most `MAX_END_PADDING`),
//! until the end shows whether they were padding after all.

use super::policy::ChannelMode;
use super::resample::Resampler;
use crate::error::{MediaError, MediaKind};

/// Frames to drop at the start and, when the container says, how many to keep after them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Gapless {
    /// Encoder delay (priming) frames to drop.
    pub skip: u64,
    /// The number of real frames, when known (drops end padding).
    pub keep: Option<u64>,
    /// Where the figures came from, for the report.
    pub source: &'static str,
}

impl Gapless {
    /// Nothing to trim here (the demuxer and decoder handle it, or there is nothing).
    pub const NONE: Self = Self {
        skip: 0,
        keep: None,
        source: "none",
    };
}

/// Container-declared lengths are believed only when they cut at most this much from the end
/// (real encoder padding is under one codec frame, 120 ms at worst). A larger cut means the header
/// lied (e.g. an MP3 length estimated from its first frames), and the audio is kept.
pub(crate) const MAX_END_PADDING: u64 = 8_192;

/// Frames a demuxer marked on one packet as delay (start) or padding (end).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Trim {
    /// Leading frames to drop.
    pub start: u64,
    /// Trailing frames the container calls padding.
    pub end: u64,
}

/// Accumulates decoded audio.
pub(crate) struct Sink {
    mode: ChannelMode,
    max_seconds: f64,
    declared_seconds: Option<f64>,
    skip_left: u64,
    keep: Option<u64>,
    /// Fixed by the first decoded packet.
    format: Option<(u32, usize)>,
    /// Frames stored, including `pending_padding`.
    frames: u64,
    /// Frames before any the container called padding.
    real_frames: u64,
    /// Trailing stored frames the container called padding (dropped at the end if few).
    pending_padding: u64,
    skipped: u64,
    /// The rate the output is resampled to.
    output_rate: u32,
    /// Made at the first packet, when the source's rate is known.
    resampler: Option<Resampler>,
    /// The `pending_padding` frames (mixed down), held back from the resampler while they may
    /// still be dropped.
    held: Vec<f32>,
    /// Reused for each packet's mixed-down frames.
    mixed: Vec<f32>,
}

/// What the sink collected.
pub(crate) struct Collected {
    /// Interleaved samples (mono when mixing down) at the output rate.
    pub samples: Vec<f32>,
    /// Channels in `samples`.
    pub channels: usize,
    /// The source's channel count.
    pub source_channels: usize,
    /// The source's sample rate.
    pub sample_rate: u32,
    /// Source frames kept (at the source's rate).
    pub frames: u64,
    /// Encoder delay frames dropped from the start.
    pub trimmed_start: u64,
    /// Padding frames dropped from the end.
    pub trimmed_end: u64,
}

impl Sink {
    pub fn new(
        mode: ChannelMode,
        max_seconds: f64,
        declared_seconds: Option<f64>,
        gapless: Gapless,
        output_rate: u32,
    ) -> Self {
        Self {
            mode,
            max_seconds,
            declared_seconds,
            skip_left: gapless.skip,
            keep: gapless.keep,
            format: None,
            frames: 0,
            real_frames: 0,
            pending_padding: 0,
            skipped: 0,
            output_rate,
            resampler: None,
            held: Vec::new(),
            mixed: Vec::new(),
        }
    }

    /// Frames kept so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Adds one decoded packet (`interleaved` f32 samples with `channels` channels at `rate`).
    pub fn push(
        &mut self,
        interleaved: &[f32],
        channels: usize,
        rate: u32,
        trim: Trim,
    ) -> Result<(), MediaError> {
        if channels == 0 || interleaved.is_empty() {
            return Ok(());
        }
        self.check_format(channels, rate)?;

        let available = (interleaved.len() / channels) as u64;
        self.skip_left += trim.start;
        let skip = self.skip_left.min(available);
        self.skip_left -= skip;
        self.skipped += skip;
        let stored = available - skip;
        if stored == 0 {
            return Ok(());
        }
        let mut real = stored - trim.end.min(stored);
        if let Some(keep) = self.keep {
            real = real.min(keep.saturating_sub(self.real_frames));
        }
        if real > 0 {
            // Audio after "padding" means the padding was real audio after all.
            self.real_frames += self.pending_padding;
            self.pending_padding = 0;
        }
        let padding = self.pending_padding + (stored - real);

        let believed_padding = if padding <= MAX_END_PADDING {
            padding
        } else {
            0
        };
        let cap = (self.max_seconds * f64::from(rate)).floor() as u64;
        if self.frames + stored - believed_padding > cap {
            return Err(MediaError::AudioTooLong {
                max_seconds: self.max_seconds,
                declared_seconds: self.declared_seconds,
            });
        }
        self.real_frames += real;
        self.pending_padding = padding;
        self.frames += stored;

        // A trailing partial frame (malformed decoder output) is dropped with the slice bound.
        let frames = &interleaved[skip as usize * channels..available as usize * channels];
        // Mono and stereo sources get their own loops: the generic per-frame sum over a slice of
        // run-time length does not vectorize, and was a tenth of a 60 s MP3's whole normalization.
        // Each gives bit-identical results to the generic mean.
        self.mixed.clear();
        let mixed: &[f32] = match (self.mode, channels) {
            (ChannelMode::Keep, _) | (ChannelMode::Mono, 1) => frames,
            (ChannelMode::Mono, 2) => {
                self.mixed
                    .extend(frames.chunks_exact(2).map(|f| (f[0] + f[1]) * 0.5));
                &self.mixed
            }
            (ChannelMode::Mono, _) => {
                let scale = 1.0 / channels as f32;
                self.mixed.extend(
                    frames
                        .chunks_exact(channels)
                        .map(|f| f.iter().sum::<f32>() * scale),
                );
                &self.mixed
            }
        };
        let out_channels = match self.mode {
            ChannelMode::Mono => 1,
            ChannelMode::Keep => channels,
        };
        let resampler = self
            .resampler
            .get_or_insert_with(|| Resampler::new(rate, self.output_rate, out_channels));
        if real > 0 {
            // What was held as padding was real audio after all, and goes first.
            resampler.push(&self.held);
            self.held.clear();
            resampler.push(&mixed[..real as usize * out_channels]);
            self.held
                .extend_from_slice(&mixed[real as usize * out_channels..]);
        } else {
            self.held.extend_from_slice(mixed);
        }
        if self.pending_padding > MAX_END_PADDING {
            // Too long to be padding: `finish` keeps it, so it need not wait.
            resampler.push(&self.held);
            self.held.clear();
        }
        Ok(())
    }

    fn check_format(&mut self, channels: usize, rate: u32) -> Result<(), MediaError> {
        match self.format {
            None => self.format = Some((rate, channels)),
            Some((r, _)) if r != rate => {
                return Err(MediaError::unsupported(
                    MediaKind::Audio,
                    format!("a sample rate that changes midway ({r} Hz, then {rate} Hz)"),
                ));
            }
            Some((_, c)) if c != channels && self.mode == ChannelMode::Keep => {
                return Err(MediaError::unsupported(
                    MediaKind::Audio,
                    format!("a channel count that changes midway ({c}, then {channels})"),
                ));
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// The collected audio, or an error when no audio frame was decoded at all.
    pub fn finish(mut self) -> Result<Collected, MediaError> {
        let Some((sample_rate, source_channels)) = self.format else {
            return Err(MediaError::corrupt(
                MediaKind::Audio,
                "no audio could be decoded from the file",
            ));
        };
        let channels = match self.mode {
            ChannelMode::Mono => 1,
            ChannelMode::Keep => source_channels,
        };
        let mut trimmed_end = 0;
        if self.pending_padding <= MAX_END_PADDING {
            // Padding after all: the held frames are dropped.
            trimmed_end = self.pending_padding;
            self.frames -= trimmed_end;
        }
        let samples = self.resampler.map(Resampler::finish).unwrap_or_default();
        Ok(Collected {
            samples,
            channels,
            source_channels,
            sample_rate,
            frames: self.frames,
            trimmed_start: self.skipped,
            trimmed_end,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_TRIM: Trim = Trim { start: 0, end: 0 };

    #[test]
    fn mixes_down_by_channel_mean_and_trims() {
        let gapless = Gapless {
            skip: 1,
            keep: Some(2),
            source: "test",
        };
        let mut sink = Sink::new(ChannelMode::Mono, 10.0, None, gapless, 100);
        // Frames: (9, 9) skipped, (1, 3), (0.5, -0.5) kept, (7, 7) is end padding.
        sink.push(&[9.0, 9.0, 1.0, 3.0], 2, 100, NO_TRIM).unwrap();
        sink.push(&[0.5, -0.5, 7.0, 7.0], 2, 100, NO_TRIM).unwrap();
        let out = sink.finish().unwrap();
        assert_eq!(out.samples, vec![2.0, 0.0]);
        assert_eq!((out.channels, out.source_channels, out.frames), (1, 2, 2));
        assert_eq!((out.trimmed_start, out.trimmed_end), (1, 1));
    }

    #[test]
    fn every_channel_count_mixes_to_the_mean() {
        // Mono and stereo have their own loops; they must agree with the generic mean.
        for channels in 1..=6usize {
            let frames: Vec<f32> = (0..channels * 5).map(|i| i as f32 * 0.37 - 2.0).collect();
            let mut sink = Sink::new(ChannelMode::Mono, 10.0, None, Gapless::NONE, 100);
            sink.push(&frames, channels, 100, NO_TRIM).unwrap();
            let out = sink.finish().unwrap();
            let want: Vec<f32> = frames
                .chunks_exact(channels)
                .map(|f| f.iter().sum::<f32>() / channels as f32)
                .collect();
            assert_eq!(out.samples.len(), 5, "{channels} channels");
            for (got, want) in out.samples.iter().zip(&want) {
                assert!(
                    (got - want).abs() < 1e-6,
                    "{channels} channels: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn packet_trims_apply_but_a_lying_length_is_not_believed() {
        let mut sink = Sink::new(ChannelMode::Keep, 1000.0, None, Gapless::NONE, 100);
        sink.push(&[1.0, 2.0, 3.0, 4.0], 1, 100, Trim { start: 1, end: 1 })
            .unwrap();
        let out = sink.finish().unwrap();
        assert_eq!(out.samples, vec![2.0, 3.0]);

        // The container claims the stream ends after 10 frames; 20 000 more follow.
        let gapless = Gapless {
            skip: 0,
            keep: Some(10),
            source: "test",
        };
        let mut sink = Sink::new(ChannelMode::Keep, 1000.0, None, gapless, 100);
        for _ in 0..20 {
            sink.push(&[0.5; 1_000], 1, 100, NO_TRIM).unwrap();
        }
        let out = sink.finish().unwrap();
        assert_eq!((out.frames, out.trimmed_end), (20_000, 0));
    }

    #[test]
    fn resampled_as_it_comes_equals_resampling_what_was_kept() {
        // Frames the container calls padding are held back from the resampler until the end
        // shows they were padding (dropped) or audio after all (kept, in order).
        let signal: Vec<f32> = (0..6_000).map(|i| (i as f32 * 0.01).sin()).collect();
        let resampled = |kept: &[f32]| {
            let mut resampler = Resampler::new(44_100, 16_000, 1);
            resampler.push(kept);
            resampler.finish()
        };
        // Padding at the very end: dropped.
        let mut sink = Sink::new(ChannelMode::Keep, 10.0, None, Gapless::NONE, 16_000);
        sink.push(&signal[..3_000], 1, 44_100, NO_TRIM).unwrap();
        sink.push(&signal[3_000..], 1, 44_100, Trim { start: 0, end: 500 })
            .unwrap();
        let out = sink.finish().unwrap();
        assert_eq!(out.trimmed_end, 500);
        assert_eq!(out.samples, resampled(&signal[..5_500]));
        // "Padding" followed by audio: kept where it was.
        let mut sink = Sink::new(ChannelMode::Keep, 10.0, None, Gapless::NONE, 16_000);
        sink.push(
            &signal[..3_000],
            1,
            44_100,
            Trim {
                start: 0,
                end: 1_000,
            },
        )
        .unwrap();
        sink.push(&signal[3_000..], 1, 44_100, NO_TRIM).unwrap();
        let out = sink.finish().unwrap();
        assert_eq!(out.trimmed_end, 0);
        assert_eq!(out.samples, resampled(&signal));
    }

    #[test]
    fn refuses_audio_past_the_cap() {
        let mut sink = Sink::new(ChannelMode::Keep, 1.0, Some(0.5), Gapless::NONE, 10);
        sink.push(&[0.0; 8], 1, 10, NO_TRIM).unwrap();
        let err = sink.push(&[0.0; 8], 1, 10, NO_TRIM).unwrap_err();
        assert!(matches!(err, MediaError::AudioTooLong { .. }));
        assert_eq!(err.to_string(), "audio longer than 1 s (it declares 0.5 s)");
    }

    #[test]
    fn keep_mode_refuses_channel_changes() {
        let mut sink = Sink::new(ChannelMode::Keep, 10.0, None, Gapless::NONE, 10);
        sink.push(&[0.0; 4], 2, 10, NO_TRIM).unwrap();
        assert!(sink.push(&[0.0; 3], 3, 10, NO_TRIM).is_err());
        assert!(sink.push(&[0.0; 4], 2, 11, NO_TRIM).is_err());
    }
}
