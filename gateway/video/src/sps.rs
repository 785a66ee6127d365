//! The fields of an H.264 sequence parameter set that must be vetted
//! before the decoder sees it.
//!
//! The SPS, not the container, is what really sizes OpenH264's frame
//! buffers: a file can declare 160x120 in its sample entry and 32000x24000
//! in an SPS, in the avcC or in-band. It is parsed here and checked first.

use crate::error::VideoError;

/// The fields of a sequence parameter set that matter for safety.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SpsInfo {
    /// `profile_idc` (66 Baseline, 77 Main, 100 High, ...).
    pub profile_idc: u8,
    /// Cropped picture width in pixels.
    pub width: u32,
    /// Cropped picture height in pixels.
    pub height: u32,
}

impl SpsInfo {
    /// A human name for the profile, for reports.
    pub(crate) fn profile_name(&self) -> &'static str {
        match self.profile_idc {
            66 => "Baseline",
            77 => "Main",
            88 => "Extended",
            100 => "High",
            _ => "other",
        }
    }
}

/// Reads bits MSB-first from an RBSP (emulation-prevention bytes removed).
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn bit(&mut self) -> Option<u32> {
        let byte = self.data.get(self.pos / 8)?;
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Some(u32::from(bit))
    }

    fn bits(&mut self, n: u32) -> Option<u32> {
        (0..n).try_fold(0u32, |acc, _| Some((acc << 1) | self.bit()?))
    }

    /// Unsigned Exp-Golomb; at most 32 bits of payload per the spec.
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        let rest = self.bits(zeros)?;
        Some(((1u64 << zeros) - 1 + u64::from(rest)).min(u64::from(u32::MAX)) as u32)
    }

    /// Signed Exp-Golomb.
    fn se(&mut self) -> Option<i64> {
        let k = i64::from(self.ue()?);
        Some(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }
}

/// Removes emulation-prevention bytes (`00 00 03` → `00 00`).
fn unescape(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// Parses an SPS NAL unit (header byte included) far enough to learn its
/// profile and cropped picture size, refusing what OpenH264 cannot decode
/// (interlaced, non-4:2:0, over 8 bits).
pub(crate) fn parse_sps(nal: &[u8]) -> Result<SpsInfo, VideoError> {
    let rbsp = unescape(nal.get(1..).unwrap_or_default());
    let mut b = Bits {
        data: &rbsp,
        pos: 0,
    };
    sps_fields(&mut b)
        .ok_or_else(|| VideoError::corrupt("malformed H.264 sequence parameter set"))?
}

/// The SPS syntax of ITU-T H.264 §7.3.2.1.1; `None` means it ran out of bits.
fn sps_fields(b: &mut Bits<'_>) -> Option<Result<SpsInfo, VideoError>> {
    let profile_idc = b.bits(8)? as u8;
    b.bits(16)?; // constraint flags, level_idc
    b.ue()?; // seq_parameter_set_id
    let mut chroma_format_idc = 1;
    if matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format_idc = b.ue()?;
        if chroma_format_idc == 3 {
            b.bit()?; // separate_colour_plane_flag
        }
        let depth_luma = b.ue()? + 8;
        let depth_chroma = b.ue()? + 8;
        if depth_luma != 8 || depth_chroma != 8 {
            return Some(Err(VideoError::unsupported(format!(
                "{depth_luma}-bit H.264 (only 8-bit is decoded)"
            ))));
        }
        b.bit()?; // qpprime_y_zero_transform_bypass_flag
        if b.bit()? == 1 {
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if b.bit()? == 1 {
                    skip_scaling_list(b, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    if chroma_format_idc != 1 {
        return Some(Err(VideoError::unsupported(
            "H.264 chroma format other than 4:2:0",
        )));
    }
    b.ue()?; // log2_max_frame_num_minus4
    match b.ue()? {
        0 => {
            b.ue()?; // log2_max_pic_order_cnt_lsb_minus4
        }
        1 => {
            b.bit()?; // delta_pic_order_always_zero_flag
            b.se()?; // offset_for_non_ref_pic
            b.se()?; // offset_for_top_to_bottom_field
            let cycle = b.ue()?;
            if cycle > 255 {
                return None;
            }
            for _ in 0..cycle {
                b.se()?;
            }
        }
        _ => {}
    }
    b.ue()?; // max_num_ref_frames
    b.bit()?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = u64::from(b.ue()?) + 1;
    let height_units = u64::from(b.ue()?) + 1;
    if b.bit()? == 0 {
        return Some(Err(VideoError::unsupported("interlaced H.264")));
    }
    b.bit()?; // direct_8x8_inference_flag
    let (mut crop_x, mut crop_y) = (0u64, 0u64);
    if b.bit()? == 1 {
        // 4:2:0 progressive: crop units are 2 luma samples both ways.
        crop_x = 2 * (u64::from(b.ue()?) + u64::from(b.ue()?));
        crop_y = 2 * (u64::from(b.ue()?) + u64::from(b.ue()?));
    }
    let width = (width_mbs * 16).saturating_sub(crop_x);
    let height = (height_units * 16).saturating_sub(crop_y);
    let clamp = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    Some(Ok(SpsInfo {
        profile_idc,
        width: clamp(width),
        height: clamp(height),
    }))
}

/// Skips one scaling_list() (§7.3.2.1.1.1); only its length matters here.
fn skip_scaling_list(b: &mut Bits<'_>, size: usize) -> Option<()> {
    let (mut last, mut next) = (8i64, 8i64);
    for _ in 0..size {
        if next != 0 {
            next = (last + b.se()? + 256).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Some(())
}

/// Builds a minimal Baseline SPS NAL (header byte included) for tests.
#[cfg(test)]
pub(crate) fn test_sps(width_mbs: u32, height_mbs: u32, progressive: bool) -> Vec<u8> {
    let mut bits = Vec::new();
    let mut put = |value: u32, n: u32| (0..n).rev().for_each(|i| bits.push((value >> i) & 1 == 1));
    put(66, 8); // profile_idc: Baseline
    put(0, 8); // constraint flags
    put(40, 8); // level_idc
    // seq_parameter_set_id, log2_max_frame_num_minus4, pic_order_cnt_type,
    // max_num_ref_frames.
    for v in [0, 0, 2, 1] {
        put_ue(&mut put, v);
    }
    put(0, 1); // gaps_in_frame_num_value_allowed_flag
    put_ue(&mut put, width_mbs - 1);
    put_ue(&mut put, height_mbs - 1);
    put(u32::from(progressive), 1); // frame_mbs_only_flag
    if !progressive {
        put(0, 1); // mb_adaptive_frame_field_flag
    }
    put(1, 1); // direct_8x8_inference_flag
    put(0, 2); // frame_cropping_flag, vui_parameters_present_flag
    put(1, 1); // rbsp_stop_one_bit
    let mut nal = vec![0x67];
    nal.extend(bits.chunks(8).map(|byte| {
        byte.iter()
            .enumerate()
            .fold(0u8, |acc, (i, &b)| acc | (u8::from(b) << (7 - i)))
    }));
    nal
}

#[cfg(test)]
fn put_ue(put: &mut impl FnMut(u32, u32), value: u32) {
    let code = value + 1;
    let len = 32 - code.leading_zeros();
    put(0, len - 1);
    put(code, len);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avc::parse_avcc;

    #[test]
    fn handmade_sps_sizes_and_interlacing_are_read() {
        let big = parse_sps(&test_sps(2000, 1500, true)).unwrap();
        assert_eq!((big.width, big.height), (32_000, 24_000));
        assert_eq!(
            parse_sps(&test_sps(10, 8, false)).unwrap_err(),
            VideoError::unsupported("interlaced H.264")
        );
    }

    /// SPS of the Baseline 160x120 test clip, as ffmpeg/x264 wrote it.
    fn baseline_sps() -> Vec<u8> {
        let data = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/colors_baseline.mp4"
        ))
        .unwrap();
        let at = data.windows(4).position(|w| w == b"avcC").unwrap() + 4;
        parse_avcc(&data[at..]).unwrap().sps.remove(0)
    }

    #[test]
    fn sps_of_test_clip_gives_its_size() {
        let info = parse_sps(&baseline_sps()).unwrap();
        assert_eq!((info.width, info.height), (160, 120));
        assert_eq!(info.profile_name(), "Baseline");
    }

    #[test]
    fn truncated_sps_is_corrupt_not_panic() {
        let sps = baseline_sps();
        for cut in 0..sps.len() {
            let _ = parse_sps(&sps[..cut]);
        }
        assert!(parse_sps(&[0x67]).is_err());
    }
}
