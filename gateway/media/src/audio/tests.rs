//! End-to-end checks of `normalize_audio`: WAV made here, real codec files from `testdata/`,
//! and hostile inputs. Frequencies are measured by zero crossings, levels by the peak.

use std::f32::consts::PI;
use std::io::Cursor;

use super::*;
use crate::error::{MediaError, MediaKind};

fn sine(freq: f32, rate: u32, seconds: f32, amplitude: f32) -> Vec<f32> {
    let n = (rate as f32 * seconds) as usize;
    (0..n)
        .map(|i| amplitude * (2.0 * PI * freq * i as f32 / rate as f32).sin())
        .collect()
}

/// A 32-bit float WAV (so levels are exact) with the given channels.
fn wav_f32(channels: &[Vec<f32>], rate: u32) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: channels.len() as u16,
        sample_rate: rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut out = Cursor::new(Vec::new());
    let mut writer = hound::WavWriter::new(&mut out, spec).unwrap();
    for i in 0..channels[0].len() {
        for ch in channels {
            writer.write_sample(ch[i]).unwrap();
        }
    }
    writer.finalize().unwrap();
    out.into_inner()
}

/// Measured frequency (Hz) from rising zero crossings in the middle 80% of a mono signal.
fn frequency(samples: &[f32], rate: u32) -> f32 {
    let skip = samples.len() / 10;
    let part = &samples[skip..samples.len() - skip];
    let rising: Vec<usize> = part
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[0] < 0.0 && w[1] >= 0.0)
        .map(|(i, _)| i)
        .collect();
    let (first, last) = (rising[0], rising[rising.len() - 1]);
    (rising.len() - 1) as f32 * rate as f32 / (last - first) as f32
}

fn peak(samples: &[f32]) -> f32 {
    let skip = samples.len() / 10;
    samples[skip..samples.len() - skip]
        .iter()
        .fold(0.0, |m, s| m.max(s.abs()))
}

fn mono_16k() -> AudioPolicy {
    AudioPolicy {
        sample_rate: 16_000,
        channels: ChannelMode::Mono,
        max_seconds: 30.0,
    }
}

#[test]
fn stereo_44k_sine_becomes_16k_mono_with_same_pitch_and_level() {
    let tone = sine(440.0, 44_100, 1.0, 0.8);
    let wav = wav_f32(&[tone.clone(), tone], 44_100);
    let (audio, report) = normalize_audio(&wav, Some("wav"), &mono_16k()).unwrap();
    assert_eq!((audio.sample_rate, audio.channels), (16_000, 1));
    assert!((audio.samples.len() as i64 - 16_000).abs() <= 2);
    let f = frequency(&audio.samples, 16_000);
    assert!((f - 440.0).abs() < 1.0, "frequency {f}");
    let p = peak(&audio.samples);
    assert!((p - 0.8).abs() < 0.8 * 0.02, "peak {p}");

    assert_eq!(report.container, "wave");
    assert_eq!(
        (report.source_sample_rate, report.source_channels),
        (44_100, 2)
    );
    assert_eq!(report.declared_seconds, Some(1.0));
    assert!((report.source_seconds - 1.0).abs() < 1e-9);
    assert!((report.output_seconds - 1.0).abs() < 1e-3);
    assert_eq!(
        (report.output_sample_rate, report.output_channels),
        (16_000, 1)
    );
}

#[test]
fn downmix_is_the_channel_mean_and_keep_keeps_channels() {
    let left = sine(440.0, 16_000, 0.25, 0.6);
    let right = sine(440.0, 16_000, 0.25, 0.2);
    let wav = wav_f32(&[left.clone(), right.clone()], 16_000);
    let (mono, _) = normalize_audio(&wav, None, &mono_16k()).unwrap();
    for (i, s) in mono.samples.iter().enumerate() {
        assert!((s - (left[i] + right[i]) / 2.0).abs() < 1e-6);
    }
    let keep = AudioPolicy {
        channels: ChannelMode::Keep,
        ..mono_16k()
    };
    let (stereo, report) = normalize_audio(&wav, None, &keep).unwrap();
    assert_eq!((stereo.channels, report.output_channels), (2, 2));
    assert_eq!(stereo.samples[2 * 100], left[100]);
    assert_eq!(stereo.samples[2 * 100 + 1], right[100]);
}

fn check_tone(
    file: &str,
    bytes: &[u8],
    policy: &AudioPolicy,
    duration_tolerance: f64,
) -> AudioReport {
    let (audio, report) =
        normalize_audio(bytes, None, policy).unwrap_or_else(|e| panic!("{file}: {e}"));
    let rate = audio.sample_rate;
    let mono: Vec<f32> = audio
        .samples
        .chunks_exact(usize::from(audio.channels))
        .map(|f| f[0])
        .collect();
    let f = frequency(&mono, rate);
    assert!((f - 440.0).abs() < 3.0, "{file}: frequency {f}");
    let p = peak(&mono);
    assert!((p - 0.5).abs() < 0.05, "{file}: peak {p}");
    let d = audio.duration_secs();
    assert!(
        (d - 0.5).abs() <= duration_tolerance,
        "{file}: duration {d}, {report:?}"
    );
    report
}

#[test]
fn real_codec_files_decode_to_the_right_tone() {
    let files: [(&str, &[u8], &str, f64); 4] = [
        (
            "flac",
            include_bytes!("../../testdata/sine440_mono_22k.flac"),
            "flac",
            0.001,
        ),
        (
            "mp3",
            include_bytes!("../../testdata/sine440_stereo_44k.mp3"),
            "mp3",
            0.001,
        ),
        (
            "m4a",
            include_bytes!("../../testdata/sine440_stereo_44k.m4a"),
            "aac-lc",
            0.001,
        ),
        (
            "ogg",
            include_bytes!("../../testdata/sine440_mono_48k.ogg"),
            "vorbis",
            0.001,
        ),
    ];
    for (name, bytes, codec, tolerance) in files {
        let report = check_tone(name, bytes, &mono_16k(), tolerance);
        assert_eq!(report.codec, codec, "{name}");
    }
}

#[cfg(feature = "opus")]
#[test]
fn browser_opus_in_ogg_and_webm_decodes() {
    let ogg = include_bytes!("../../testdata/sine440_mono_48k.opus");
    let report = check_tone("opus", ogg, &mono_16k(), 0.001);
    assert_eq!(
        (report.container.as_str(), report.codec.as_str()),
        ("ogg", "opus")
    );
    assert_eq!(
        (report.trimmed_start_frames, report.delay_source),
        (312, "OpusHead")
    );
    // Matroska carries no end-padding figure, so up to one 20 ms Opus frame remains.
    let webm = include_bytes!("../../testdata/sine440_stereo_48k.webm");
    let report = check_tone("webm", webm, &mono_16k(), 0.021);
    assert_eq!(
        (report.container.as_str(), report.source_channels),
        ("matroska", 2)
    );
}

#[cfg(not(feature = "opus"))]
#[test]
fn opus_without_the_feature_is_a_clear_refusal() {
    let ogg = include_bytes!("../../testdata/sine440_mono_48k.opus");
    let err = normalize_audio(ogg, None, &mono_16k()).unwrap_err();
    assert!(matches!(err, MediaError::Unsupported { .. }));
    assert!(err.to_string().contains("opus"), "{err}");
}

#[test]
fn aac_priming_is_trimmed_so_the_tone_starts_on_time() {
    let m4a = include_bytes!("../../testdata/sine440_stereo_44k.m4a");
    let policy = AudioPolicy {
        sample_rate: 44_100,
        ..mono_16k()
    };
    let (audio, report) = normalize_audio(m4a, Some("m4a"), &policy).unwrap();
    assert_eq!(
        (report.trimmed_start_frames, report.delay_source),
        (1024, "elst")
    );
    assert_eq!(audio.samples.len(), 22_050);
    let reference = sine(440.0, 44_100, 0.5, 0.5);
    let worst = audio.samples[441..21_000]
        .iter()
        .zip(&reference[441..21_000])
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(
        worst < 0.05,
        "largest deviation from the source sine: {worst}"
    );
}

/// A 16-bit mono PCM WAV header that declares `data_len` bytes, followed by `body`.
fn wav_header(rate: u32, data_len: u32, body: &[u8]) -> Vec<u8> {
    let mut w = b"RIFF".to_vec();
    w.extend_from_slice(&data_len.saturating_add(36).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes()); // PCM
    w.extend_from_slice(&1u16.to_le_bytes()); // mono
    w.extend_from_slice(&rate.to_le_bytes());
    w.extend_from_slice(&(rate * 2).to_le_bytes());
    w.extend_from_slice(&2u16.to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&data_len.to_le_bytes());
    w.extend_from_slice(body);
    w
}

#[test]
fn ten_hour_wav_header_is_refused_before_decoding() {
    // 10 h of 16-bit mono at 8 kHz declared, 1 KiB actually present.
    let wav = wav_header(8_000, 10 * 3600 * 8_000 * 2, &[0; 1024]);
    let err = normalize_audio(&wav, None, &mono_16k()).unwrap_err();
    match err {
        MediaError::AudioTooLong {
            max_seconds,
            declared_seconds: Some(declared),
        } => {
            assert_eq!(max_seconds, 30.0);
            assert!((declared - 36_000.0).abs() < 1.0, "{declared}");
        }
        other => panic!("expected AudioTooLong, got {other}"),
    }
}

#[test]
fn decoding_stops_at_the_cap_when_the_header_lies() {
    // Two copies of a 0.5 s MP3 back to back: the first one's Xing header declares 0.5 s, but
    // there is a second 0.5 s of frames after it.
    let mp3 = include_bytes!("../../testdata/sine440_stereo_44k.mp3");
    let doubled = [mp3.as_slice(), mp3.as_slice()].concat();
    let policy = AudioPolicy {
        max_seconds: 0.75,
        ..mono_16k()
    };
    let err = normalize_audio(&doubled, None, &policy).unwrap_err();
    match err {
        MediaError::AudioTooLong {
            max_seconds,
            declared_seconds,
        } => {
            assert_eq!(max_seconds, 0.75);
            assert!(
                declared_seconds.is_some_and(|d| d <= 0.75),
                "{declared_seconds:?}"
            );
        }
        other => panic!("expected AudioTooLong, got {other}"),
    }
    // Under a roomier cap the whole second is decoded (nothing is silently dropped).
    let (audio, _) = normalize_audio(&doubled, None, &mono_16k()).unwrap();
    assert!(audio.duration_secs() > 0.95, "{}", audio.duration_secs());
}

#[test]
fn longer_than_the_cap_is_refused_not_truncated() {
    let tone = sine(440.0, 16_000, 2.0, 0.5);
    let wav = wav_f32(&[tone], 16_000);
    let policy = AudioPolicy {
        max_seconds: 1.5,
        ..mono_16k()
    };
    let err = normalize_audio(&wav, None, &policy).unwrap_err();
    assert!(matches!(err, MediaError::AudioTooLong { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "audio longer than 1.5 s (it declares 2.0 s)"
    );
}

#[test]
fn hostile_inputs_fail_cleanly() {
    let policy = mono_16k();
    assert!(matches!(
        normalize_audio(&[], None, &policy),
        Err(MediaError::Empty(MediaKind::Audio))
    ));

    let wav = wav_f32(&[sine(440.0, 16_000, 0.5, 0.5)], 16_000);
    let err = normalize_audio(&wav[..wav.len() / 2 + 3], None, &policy).unwrap_err();
    assert!(matches!(err, MediaError::Corrupt { .. }), "{err}");
    let err = normalize_audio(&wav[..30], None, &policy).unwrap_err();
    assert!(
        matches!(
            err,
            MediaError::Corrupt { .. } | MediaError::Unsupported { .. }
        ),
        "{err}"
    );

    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let garbage: Vec<u8> = (0..8192)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    let err = normalize_audio(&garbage, Some("mp3"), &policy).unwrap_err();
    assert!(
        matches!(
            err,
            MediaError::Unsupported { .. } | MediaError::Corrupt { .. }
        ),
        "{err}"
    );

    // The audio fuzzer's find: a header declaring 65,535 channels overflowed symphonia's block
    // alignment arithmetic (a panic where overflow checks are on); it is refused before that.
    let mut many = wav_f32(&[sine(440.0, 16_000, 0.1, 0.5)], 16_000);
    many[22..24].copy_from_slice(&u16::MAX.to_le_bytes());
    let err = normalize_audio(&many, None, &policy).unwrap_err();
    assert!(err.to_string().contains("65535 channels"), "{err}");

    // Picture bytes labelled as audio are recognised for what they are not.
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0";
    let err = normalize_audio(png, Some("audio/wav"), &policy).unwrap_err();
    assert!(matches!(err, MediaError::Unsupported { .. }), "{err}");

    for bytes in [
        include_bytes!("../../testdata/sine440_stereo_44k.mp3").as_slice(),
        include_bytes!("../../testdata/sine440_mono_22k.flac").as_slice(),
        include_bytes!("../../testdata/sine440_stereo_44k.m4a").as_slice(),
        include_bytes!("../../testdata/sine440_mono_48k.opus").as_slice(),
        include_bytes!("../../testdata/sine440_stereo_48k.webm").as_slice(),
    ] {
        for cut in [bytes.len() / 3, bytes.len() / 2, 64] {
            // A cut file either fails as corrupt/unsupported or yields the audio before the cut;
            // it never panics or hangs.
            if let Ok((audio, _)) = normalize_audio(&bytes[..cut], None, &policy) {
                assert!(audio.duration_secs() <= 0.55);
            }
        }
    }
}

#[test]
fn the_bytes_decide_the_format_not_the_hint() {
    let wav = wav_f32(&[sine(440.0, 16_000, 0.1, 0.5)], 16_000);
    let (_, report) = normalize_audio(&wav, Some("audio/mpeg"), &mono_16k()).unwrap();
    assert_eq!(report.container, "wave");
}

#[test]
fn bad_policies_are_server_errors() {
    let wav = wav_f32(&[sine(440.0, 16_000, 0.1, 0.5)], 16_000);
    let policy = AudioPolicy {
        max_seconds: f64::NAN,
        ..mono_16k()
    };
    let err = normalize_audio(&wav, None, &policy).unwrap_err();
    assert!(matches!(err, MediaError::InvalidPolicy(_)) && !err.is_client_error());
}
