//! Hostile inputs: truncations, random bytes and mutations, and copies of
//! the test clips patched to declare absurd sizes, durations or tables.

use super::*;

#[test]
fn empty_and_random_inputs_are_refused() {
    assert_eq!(probe(&[]).unwrap_err(), VideoError::Empty);
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for len in [1, 7, 8, 64, 1000, 10_000] {
        let bytes: Vec<u8> = (0..len).map(|_| xorshift(&mut state) as u8).collect();
        assert!(sample_frames(&bytes, &VideoPolicy::default()).is_err());
    }
}

#[test]
fn truncated_files_fail_cleanly() {
    for name in [
        "colors_baseline.mp4",
        "ramp_high_bframes.mp4",
        "with_audio.mp4",
        "colors_main.mov",
    ] {
        let bytes = clip(name);
        for tenth in 1..10 {
            let cut = &bytes[..bytes.len() * tenth / 10];
            assert!(
                sample_frames(cut, &VideoPolicy::default()).is_err(),
                "{name} cut at {tenth}/10"
            );
        }
        for cut in [1, 8, 16, 40] {
            assert!(sample_frames(&bytes[..cut], &VideoPolicy::default()).is_err());
        }
        // The last byte is video in every clip but the one with audio,
        // whose mdat ends with an AAC packet: its video is still whole.
        let last_byte_cut = sample_frames(&bytes[..bytes.len() - 1], &VideoPolicy::default());
        assert_eq!(last_byte_cut.is_ok(), name == "with_audio.mp4", "{name}");
    }
    // moov first, cut inside mdat / moov last, cut before it.
    let baseline = clip("colors_baseline.mp4");
    assert_eq!(
        sample_frames(&baseline[..baseline.len() - 100], &VideoPolicy::default()).unwrap_err(),
        VideoError::Truncated
    );
    let ramp = clip("ramp_high_bframes.mp4");
    assert_eq!(
        probe(&ramp[..ramp.len() / 2]).unwrap_err(),
        VideoError::Truncated
    );
}

/// A copy with the mdat payload zeroed: decoding it would fail, so an error
/// other than a decode failure proves the refusal came from the header.
fn undecodable(bytes: &[u8]) -> Vec<u8> {
    let mut copy = bytes.to_vec();
    let start = find(&copy, b"mdat");
    let size = u32::from_be_bytes(copy[start - 8..start - 4].try_into().unwrap()) as usize;
    copy[start..start - 8 + size].fill(0);
    assert!(sample_frames(&copy, &VideoPolicy::default()).is_err());
    copy
}

#[test]
fn absurd_or_oversized_dimensions_are_refused_before_decoding() {
    let bytes = undecodable(&clip("colors_baseline.mp4"));
    // avc1 sample entry: width and height are u16s 24 bytes into it.
    // (Skip the ftyp, whose compatible brands also list avc1.)
    let stsd = find(&bytes, b"stsd");
    let avc1 = stsd + find(&bytes[stsd..], b"avc1");
    let mut huge = bytes.clone();
    huge[avc1 + 24..avc1 + 28].copy_from_slice(&[0xff; 4]);
    assert!(matches!(
        sample_frames(&huge, &VideoPolicy::default()),
        Err(VideoError::TooLarge { width: 65535, .. })
    ));
    assert!(matches!(probe(&huge), Err(VideoError::TooLarge { .. })));
    let mut zero = bytes.clone();
    zero[avc1 + 24..avc1 + 28].fill(0);
    assert!(matches!(probe(&zero), Err(VideoError::Corrupt { .. })));
    // tkhd (version 0): 16.16 width and height at payload offsets 76 and 80.
    let tkhd = find(&bytes, b"tkhd");
    let mut wide = bytes.clone();
    wide[tkhd + 76..tkhd + 80].copy_from_slice(&[0xff, 0xff, 0, 0]);
    assert!(matches!(
        probe(&wide),
        Err(VideoError::TooLarge {
            width: 65535,
            max_width: 16_384,
            ..
        })
    ));
    // A real 160x120 over a policy of 100x100.
    let small = VideoPolicy {
        max_width: 100,
        max_height: 100,
        ..VideoPolicy::default()
    };
    assert_eq!(
        sample_frames(&bytes, &small).unwrap_err(),
        VideoError::TooLarge {
            width: 160,
            height: 120,
            max_width: 100,
            max_height: 100
        }
    );
}

#[test]
fn in_band_sps_declaring_a_huge_picture_is_refused_before_the_decoder_sees_it() {
    // The first sample opens with x264's 623-byte SEI NAL; overwrite it in
    // place with an SPS declaring 32000x24000 (zero padding keeps the size).
    let mut bytes = clip("colors_baseline.mp4");
    let nal = find(&bytes, b"mdat") + 4;
    assert_eq!(&bytes[nal - 4..nal], &623u32.to_be_bytes());
    let sps = sps::test_sps(2000, 1500, true);
    bytes[nal..nal + 623].fill(0);
    bytes[nal..nal + sps.len()].copy_from_slice(&sps);
    assert!(matches!(
        sample_frames(&bytes, &VideoPolicy::default()),
        Err(VideoError::TooLarge {
            width: 32_000,
            height: 24_000,
            ..
        })
    ));
}

#[test]
fn over_long_declared_duration_is_refused_before_decoding() {
    let bytes = undecodable(&clip("colors_baseline.mp4"));
    // mvhd and mdhd (version 0): timescale at payload offset 12, duration at 16.
    for fourcc in [b"mvhd", b"mdhd"] {
        let at = find(&bytes, fourcc);
        let mut long = bytes.clone();
        long[at + 16..at + 20].copy_from_slice(&0x7fff_ffffu32.to_be_bytes());
        assert!(
            matches!(
                sample_frames(&long, &VideoPolicy::default()),
                Err(VideoError::TooLong { .. })
            ),
            "{fourcc:?}"
        );
        // probe has no duration limit; the sample table is still sane.
        assert!(probe(&long).is_ok());
        assert!(
            matches!(probe_within(&long, 600.0), Err(VideoError::TooLong { .. })),
            "{fourcc:?}"
        );
    }
    let short = VideoPolicy {
        max_seconds: 2.0,
        ..VideoPolicy::default()
    };
    assert!(matches!(
        sample_frames(&bytes, &short),
        Err(VideoError::TooLong { limit: 2.0, .. })
    ));
}

#[test]
fn absurd_sample_counts_are_refused() {
    let bytes = clip("colors_baseline.mp4");
    // stsc's single run: samples_per_chunk at payload offset 12 (after
    // version/flags, count, first_chunk). 2^31 samples in one chunk.
    let stsc = find(&bytes, b"stsc");
    let mut many = bytes.clone();
    many[stsc + 12..stsc + 16].copy_from_slice(&0x8000_0000u32.to_be_bytes());
    let err = probe(&many).unwrap_err();
    assert!(
        err.to_string()
            .contains("2147483648 frames declared for 3.0 s"),
        "{err}"
    );
    // stts entry count far beyond the box.
    let stts = find(&bytes, b"stts");
    let mut table = bytes.clone();
    table[stts + 4..stts + 8].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(probe(&table), Err(VideoError::Corrupt { .. })));
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Random byte mutations of every clip must give errors or frames, never a
/// panic: a cheap stand-in for the cargo-fuzz target.
#[test]
fn mutated_clips_never_panic() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for name in [
        "colors_baseline.mp4",
        "ramp_high_bframes.mp4",
        "with_audio.mp4",
        "colors_main.mov",
        "mpeg4_part2.mp4",
    ] {
        let bytes = clip(name);
        for _ in 0..150 {
            let mut copy = bytes.clone();
            for _ in 0..1 + xorshift(&mut state) % 8 {
                let at = (xorshift(&mut state) % copy.len() as u64) as usize;
                copy[at] = xorshift(&mut state) as u8;
            }
            fuzz_entry(&copy);
        }
    }
}
