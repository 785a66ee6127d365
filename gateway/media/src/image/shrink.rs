//! The arithmetic of decoding at reduced scale: how far a JPEG may be shrunk in the DCT domain
//! (1/2, 1/4 or 1/8) while the resize that follows still only shrinks, and where a [`Layout`]
//! computed for the full-size picture lands on the shrunk one. Pure sizes, no pixels.

use image::metadata::Orientation;

use super::geometry::Layout;

/// The reduction factors a JPEG decoder's scaled IDCT offers, largest first.
const FACTORS: [u32; 3] = [8, 4, 2];

/// The largest factor `n` in {8, 4, 2} such that the layout's source region, divided by `n`,
/// still holds at least as many pixels as it is resized to in both directions; 1 when none does
/// (an upscale, or a shrink by less than half).
pub(crate) fn factor_for(layout: &Layout) -> u32 {
    let (_, _, cw, ch) = layout.src;
    let (sw, sh) = layout.scaled;
    FACTORS
        .into_iter()
        .find(|&n| {
            let n = f64::from(n);
            cw / n >= f64::from(sw) && ch / n >= f64::from(sh)
        })
        .unwrap_or(1)
}

/// The size a decoder shrinking a `len`-pixel side by `factor` produces: `ceil(len / factor)`,
/// the last pixel covering the remainder (libjpeg's `jdiv_round_up`).
pub(crate) fn reduced_len(len: u32, factor: u32) -> u32 {
    len.div_ceil(factor.max(1))
}

/// Whether the orientation turns the stored picture by a quarter (width and height swap).
pub(crate) fn swaps_sides(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

/// The upright `(width, height)` of a `width`×`height` stored picture.
pub(crate) fn oriented(width: u32, height: u32, orientation: Orientation) -> (u32, u32) {
    if swaps_sides(orientation) {
        (height, width)
    } else {
        (width, height)
    }
}

/// For each upright axis (x, y): whether it runs backwards along the stored axis it comes from.
/// A shrunk picture's partial last pixel sits at the end of each stored axis, so a reversed
/// axis starts with it and the upright coordinates move by the part of it the picture lacks.
fn reversed_axes(orientation: Orientation) -> (bool, bool) {
    match orientation {
        Orientation::NoTransforms | Orientation::Rotate90FlipH => (false, false),
        Orientation::Rotate90 | Orientation::FlipHorizontal => (true, false),
        Orientation::Rotate270 | Orientation::FlipVertical => (false, true),
        Orientation::Rotate180 | Orientation::Rotate270FlipH => (true, true),
    }
}

/// Re-expresses `layout` (computed for the upright full-size picture, stored as
/// `stored_width`×`stored_height`) on that picture decoded at 1/`factor` and then oriented.
/// Only the source region moves: the output sizes, canvas and offset stay exactly the same.
pub(crate) fn reduce_layout(
    layout: &Layout,
    stored_width: u32,
    stored_height: u32,
    orientation: Orientation,
    factor: u32,
) -> Layout {
    let n = f64::from(factor.max(1));
    let (full_w, full_h) = oriented(stored_width, stored_height, orientation);
    let (small_w, small_h) = oriented(
        reduced_len(stored_width, factor),
        reduced_len(stored_height, factor),
        orientation,
    );
    let (reverse_x, reverse_y) = reversed_axes(orientation);
    let shift = |reversed: bool, small: u32, full: u32| {
        if reversed {
            f64::from(small) - f64::from(full) / n
        } else {
            0.0
        }
    };
    let (left, top, cw, ch) = layout.src;
    Layout {
        src: (
            left / n + shift(reverse_x, small_w, full_w),
            top / n + shift(reverse_y, small_h, full_h),
            cw / n,
            ch / n,
        ),
        ..*layout
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::geometry::{Target, layout};
    use crate::image::policy::FitMode;

    fn crop(w: u32, h: u32, side: u32) -> Layout {
        layout(
            w,
            h,
            Target::Exact {
                w: side,
                h: side,
                fit: FitMode::Crop,
            },
        )
    }

    #[test]
    fn the_factor_keeps_the_resize_a_shrink() {
        // 1280x960 centre crop to 448: 960/2 = 480 >= 448, 960/4 = 240 < 448.
        assert_eq!(factor_for(&crop(1280, 960, 448)), 2);
        assert_eq!(factor_for(&crop(4000, 3000, 224)), 8);
        assert_eq!(factor_for(&crop(4000, 3000, 448)), 4);
        // Exactly half still counts; a hair less than half does not.
        assert_eq!(factor_for(&crop(896, 896, 448)), 2);
        assert_eq!(factor_for(&crop(895, 895, 448)), 1);
        // Upscales and mild shrinks decode at full size.
        assert_eq!(factor_for(&crop(300, 200, 448)), 1);
        let within = layout(
            1000,
            200,
            Target::Within {
                max_w: 400,
                max_h: 400,
                max_pixels: 1 << 20,
            },
        );
        assert_eq!(within.scaled, (400, 80));
        assert_eq!(factor_for(&within), 2);
    }

    #[test]
    fn reduced_sizes_round_up() {
        assert_eq!(reduced_len(1280, 2), 640);
        assert_eq!(reduced_len(1281, 2), 641);
        assert_eq!(reduced_len(7, 8), 1);
        assert_eq!(reduced_len(9, 8), 2);
    }

    #[test]
    fn layouts_scale_and_keep_the_output() {
        let full = crop(1280, 960, 448);
        let small = reduce_layout(&full, 1280, 960, Orientation::NoTransforms, 2);
        assert_eq!(small.src, (80.0, 0.0, 480.0, 480.0));
        assert_eq!(
            (small.scaled, small.canvas, small.offset),
            (full.scaled, full.canvas, full.offset)
        );
    }

    #[test]
    fn reversed_axes_move_by_the_partial_pixel() {
        // 1281x961 stored, halved to 641x481: the last pixel of each side is half a pixel.
        let whole = |w: u32, h: u32| Layout {
            src: (0.0, 0.0, f64::from(w), f64::from(h)),
            scaled: (100, 100),
            canvas: (100, 100),
            offset: (0, 0),
        };
        let upright = reduce_layout(&whole(1281, 961), 1281, 961, Orientation::NoTransforms, 2);
        assert_eq!(upright.src, (0.0, 0.0, 640.5, 480.5));
        let turned = reduce_layout(&whole(1281, 961), 1281, 961, Orientation::Rotate180, 2);
        assert_eq!(turned.src, (0.5, 0.5, 640.5, 480.5));
        // Rotate90: upright x comes from stored y reversed; upright is 961 wide.
        let quarter = reduce_layout(&whole(961, 1281), 1281, 961, Orientation::Rotate90, 2);
        assert_eq!(quarter.src, (0.5, 0.0, 480.5, 640.5));
        let transposed = reduce_layout(&whole(961, 1281), 1281, 961, Orientation::Rotate90FlipH, 2);
        assert_eq!(transposed.src, (0.0, 0.0, 480.5, 640.5));
    }
}
