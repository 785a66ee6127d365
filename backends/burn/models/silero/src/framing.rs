//! Cutting 16 kHz audio into the model's STFT frames.
//!
//! Silero VAD v5 sees each 512-sample chunk with the last 64 samples before it prepended
//! (zeros before the first chunk), and the final chunk of a clip is zero-padded to 512, exactly
//! as silero's `OnnxWrapper.audio_forward` feeds it. The STFT front end reflect-pads those 576
//! samples by 64 on the right and slides a 256-sample window over them with a hop of 128: four
//! frames per chunk. Padding and framing are done here, while the samples are copied anyway,
//! so the STFT itself is one matmul over all frames.

/// Samples of audio the model consumes per step (32 ms at 16 kHz).
pub(crate) const CHUNK_SAMPLES: usize = 512;
/// Samples of the previous chunk prepended to each chunk.
const CONTEXT_SAMPLES: usize = 64;
/// Right reflect padding of the STFT front end.
const REFLECT_SAMPLES: usize = 64;
/// Context, chunk and reflect padding: what the STFT of one chunk sees.
const WINDOW_SAMPLES: usize = CONTEXT_SAMPLES + CHUNK_SAMPLES + REFLECT_SAMPLES;
/// STFT window length (n_fft).
pub(crate) const FFT_SIZE: usize = 256;
/// STFT hop.
const FFT_HOP: usize = 128;
/// STFT frames per chunk.
pub(crate) const FRAMES_PER_CHUNK: usize = (WINDOW_SAMPLES - FFT_SIZE) / FFT_HOP + 1;

/// How many steps a clip of `samples` samples takes: a partial tail chunk counts as one.
pub(crate) fn chunk_count(samples: usize) -> usize {
    samples.div_ceil(CHUNK_SAMPLES)
}

/// Appends the `FRAMES_PER_CHUNK` STFT frames of chunk `chunk` of `clip` to `frames`.
pub(crate) fn push_stft_frames(clip: &[f32], chunk: usize, frames: &mut Vec<f32>) {
    let window = padded_window(clip, chunk);
    for frame in 0..FRAMES_PER_CHUNK {
        let start = frame * FFT_HOP;
        frames.extend_from_slice(&window[start..start + FFT_SIZE]);
    }
}

/// Context, chunk `chunk` (zero-padded past the clip's end) and right reflect padding.
fn padded_window(clip: &[f32], chunk: usize) -> [f32; WINDOW_SAMPLES] {
    let mut window = [0.0; WINDOW_SAMPLES];
    let chunk_start = chunk * CHUNK_SAMPLES;
    // Before the first chunk the context is silence: leave those samples zero.
    let source_start = chunk_start.saturating_sub(CONTEXT_SAMPLES);
    let source_end = (chunk_start + CHUNK_SAMPLES).min(clip.len());
    let source = clip.get(source_start..source_end).unwrap_or_default();
    let offset = CONTEXT_SAMPLES - (chunk_start - source_start);
    window[offset..offset + source.len()].copy_from_slice(source);
    // numpy/torch "reflect": the edge sample is not repeated, so the padding mirrors
    // x[len-2], x[len-3], ...
    let edge = CONTEXT_SAMPLES + CHUNK_SAMPLES - 1;
    for step in 1..=REFLECT_SAMPLES {
        window[edge + step] = window[edge - step];
    }
    window
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(len: usize) -> Vec<f32> {
        (1..=len).map(|i| i as f32).collect()
    }

    #[test]
    fn counts_a_partial_tail_chunk() {
        assert_eq!(chunk_count(0), 0);
        assert_eq!(chunk_count(1), 1);
        assert_eq!(chunk_count(512), 1);
        assert_eq!(chunk_count(513), 2);
    }

    #[test]
    fn first_chunk_has_silent_context_and_reflected_tail() {
        let clip = ramp(1024);
        let window = padded_window(&clip, 0);
        assert!(window[..64].iter().all(|&v| v == 0.0));
        assert_eq!(&window[64..576], &clip[..512]);
        // The window ends ... 511, 512 | 511, 510, ..., 448.
        assert_eq!(window[575], 512.0);
        assert_eq!(window[576], 511.0);
        assert_eq!(window[639], 448.0);
    }

    #[test]
    fn later_chunks_carry_the_previous_64_samples() {
        let clip = ramp(1024);
        assert_eq!(&padded_window(&clip, 1)[..576], &clip[448..1024]);
    }

    #[test]
    fn the_tail_chunk_is_zero_padded_before_reflection() {
        let clip = ramp(600);
        let window = padded_window(&clip, 1);
        assert_eq!(&window[..152], &clip[448..600]);
        assert!(window[152..].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn frames_overlap_by_half_and_are_appended() {
        assert_eq!(FRAMES_PER_CHUNK, 4);
        let clip = ramp(1024);
        let window = padded_window(&clip, 1);
        let mut frames = Vec::new();
        push_stft_frames(&clip, 0, &mut frames);
        push_stft_frames(&clip, 1, &mut frames);
        assert_eq!(frames.len(), 2 * FRAMES_PER_CHUNK * FFT_SIZE);
        let second_chunk = &frames[FRAMES_PER_CHUNK * FFT_SIZE..];
        assert_eq!(&second_chunk[..256], &window[..256]);
        assert_eq!(&second_chunk[256..512], &window[128..384]);
        assert_eq!(&second_chunk[768..], &window[384..]);
    }
}
