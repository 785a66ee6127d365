//! Pure size arithmetic: from a picture's size, the policy and the detail hint, which source
//! region is resized to what size and where it lands on the output canvas. Kept free of pixels so
//! every fit mode can be checked exactly.

use super::policy::{Detail, FitMode, ImageOutput, ImagePolicy};

/// The box a picture must be shaped into.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Target {
    /// Keep the size.
    Unchanged,
    /// Fit inside `max_w`×`max_h` and `max_pixels`, keeping the aspect ratio, never upscaling.
    Within {
        max_w: u32,
        max_h: u32,
        max_pixels: u64,
    },
    /// Produce exactly `w`×`h`.
    Exact { w: u32, h: u32, fit: FitMode },
}

/// How one picture is resized.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Layout {
    /// Source region `(left, top, width, height)`, in source pixels (sub-pixel for crops).
    pub src: (f64, f64, f64, f64),
    /// The size that region is resized to.
    pub scaled: (u32, u32),
    /// The output size.
    pub canvas: (u32, u32),
    /// Where the scaled region's top-left corner sits on the canvas.
    pub offset: (u32, u32),
}

impl Layout {
    /// True when no resampling is needed (the whole picture at its own size).
    pub fn is_identity(&self, w: u32, h: u32) -> bool {
        self.scaled == (w, h) && self.src == (0.0, 0.0, f64::from(w), f64::from(h))
    }
}

/// Chooses the target box for this policy, detail hint and (upright) picture size.
pub(crate) fn target_for(policy: &ImagePolicy, detail: Detail, w: u32, h: u32) -> Target {
    if let ImageOutput::Tensor { size, .. } = policy.output {
        return Target::Exact {
            w: size.0,
            h: size.1,
            fit: policy.fit,
        };
    }
    let side = match detail {
        Detail::Low => policy.low_detail_side,
        Detail::High | Detail::Auto => policy.max_side,
        Detail::Original => {
            return match policy.fit {
                FitMode::Fit => Target::Unchanged,
                FitMode::Pad => square(w.max(h), FitMode::Pad),
                FitMode::Crop => square(w.min(h), FitMode::Crop),
            };
        }
    };
    match policy.fit {
        FitMode::Fit => Target::Within {
            max_w: side,
            max_h: side,
            max_pixels: policy.max_pixels,
        },
        fit @ (FitMode::Pad | FitMode::Crop) => {
            // The square must also respect the pixel budget.
            let budget_side = (policy.max_pixels as f64).sqrt().floor() as u32;
            square(side.min(budget_side).max(1), fit)
        }
    }
}

fn square(side: u32, fit: FitMode) -> Target {
    Target::Exact {
        w: side,
        h: side,
        fit,
    }
}

/// Computes the layout of a `w`×`h` picture (both non-zero) for `target`.
pub(crate) fn layout(w: u32, h: u32, target: Target) -> Layout {
    let (wf, hf) = (f64::from(w), f64::from(h));
    let full = (0.0, 0.0, wf, hf);
    match target {
        Target::Unchanged => Layout {
            src: full,
            scaled: (w, h),
            canvas: (w, h),
            offset: (0, 0),
        },
        Target::Within {
            max_w,
            max_h,
            max_pixels,
        } => {
            let pixel_scale = (max_pixels as f64 / (wf * hf)).sqrt();
            let scale = 1f64
                .min(f64::from(max_w) / wf)
                .min(f64::from(max_h) / hf)
                .min(pixel_scale);
            // Flooring (with a hair of slack for float error) keeps both caps strict.
            let size = (scaled_floor(wf, scale), scaled_floor(hf, scale));
            Layout {
                src: full,
                scaled: size,
                canvas: size,
                offset: (0, 0),
            }
        }
        Target::Exact { w: tw, h: th, fit } => exact(wf, hf, tw, th, fit),
    }
}

fn exact(wf: f64, hf: f64, tw: u32, th: u32, fit: FitMode) -> Layout {
    let (twf, thf) = (f64::from(tw), f64::from(th));
    match fit {
        FitMode::Fit => Layout {
            src: (0.0, 0.0, wf, hf),
            scaled: (tw, th),
            canvas: (tw, th),
            offset: (0, 0),
        },
        FitMode::Pad => {
            let scale = (twf / wf).min(thf / hf);
            let sw = scaled_round(wf, scale).min(tw);
            let sh = scaled_round(hf, scale).min(th);
            Layout {
                src: (0.0, 0.0, wf, hf),
                scaled: (sw, sh),
                canvas: (tw, th),
                offset: ((tw - sw) / 2, (th - sh) / 2),
            }
        }
        FitMode::Crop => {
            let target_aspect = twf / thf;
            let src = if wf / hf > target_aspect {
                let cw = hf * target_aspect;
                ((wf - cw) / 2.0, 0.0, cw, hf)
            } else {
                let ch = wf / target_aspect;
                (0.0, (hf - ch) / 2.0, wf, ch)
            };
            Layout {
                src,
                scaled: (tw, th),
                canvas: (tw, th),
                offset: (0, 0),
            }
        }
    }
}

fn scaled_floor(len: f64, scale: f64) -> u32 {
    ((len * scale + 1e-6).floor() as u32).max(1)
}

fn scaled_round(len: f64, scale: f64) -> u32 {
    ((len * scale).round() as u32).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(fit: FitMode) -> ImagePolicy {
        ImagePolicy {
            max_side: 1024,
            max_pixels: 1024 * 1024,
            low_detail_side: 256,
            fit,
            ..ImagePolicy::default()
        }
    }

    #[test]
    fn fit_keeps_aspect_and_never_upscales() {
        let p = policy(FitMode::Fit);
        let l = layout(4000, 2000, target_for(&p, Detail::High, 4000, 2000));
        assert_eq!(l.scaled, (1024, 512));
        assert_eq!(l.canvas, (1024, 512));
        let l = layout(4000, 2000, target_for(&p, Detail::Low, 4000, 2000));
        assert_eq!(l.scaled, (256, 128));
        let l = layout(300, 200, target_for(&p, Detail::Auto, 300, 200));
        assert!(l.is_identity(300, 200));
        let l = layout(9000, 9000, target_for(&p, Detail::Original, 9000, 9000));
        assert!(l.is_identity(9000, 9000));
    }

    #[test]
    fn fit_respects_the_pixel_budget() {
        let p = ImagePolicy {
            max_side: 4096,
            max_pixels: 1_000_000,
            ..policy(FitMode::Fit)
        };
        let l = layout(3000, 3000, target_for(&p, Detail::High, 3000, 3000));
        assert_eq!(l.scaled, (1000, 1000));
        let l = layout(4000, 1000, target_for(&p, Detail::High, 4000, 1000));
        assert!(u64::from(l.scaled.0) * u64::from(l.scaled.1) <= 1_000_000);
        assert_eq!(l.scaled, (2000, 500));
    }

    #[test]
    fn pad_fills_an_exact_square_and_centres() {
        let p = policy(FitMode::Pad);
        let l = layout(2000, 1000, target_for(&p, Detail::High, 2000, 1000));
        assert_eq!(l.canvas, (1024, 1024));
        assert_eq!(l.scaled, (1024, 512));
        assert_eq!(l.offset, (0, 256));
        // Small pictures are scaled up to fill the square.
        let l = layout(100, 200, target_for(&p, Detail::High, 100, 200));
        assert_eq!((l.scaled, l.offset), ((512, 1024), (256, 0)));
        // Original: pad to the long side, no scaling.
        let l = layout(300, 200, target_for(&p, Detail::Original, 300, 200));
        assert_eq!(
            (l.canvas, l.scaled, l.offset),
            ((300, 300), (300, 200), (0, 50))
        );
    }

    #[test]
    fn crop_takes_the_centre() {
        let p = policy(FitMode::Crop);
        let l = layout(2000, 1000, target_for(&p, Detail::High, 2000, 1000));
        assert_eq!(l.canvas, (1024, 1024));
        assert_eq!(l.src, (500.0, 0.0, 1000.0, 1000.0));
        let l = layout(
            1000,
            3000,
            Target::Exact {
                w: 200,
                h: 100,
                fit: FitMode::Crop,
            },
        );
        assert_eq!(l.src, (0.0, 1250.0, 1000.0, 500.0));
        assert_eq!(l.scaled, (200, 100));
    }

    #[test]
    fn tensor_size_wins_over_detail() {
        let p = ImagePolicy {
            output: ImageOutput::Tensor {
                size: (224, 224),
                mean: [0.0; 3],
                std: [1.0; 3],
            },
            ..policy(FitMode::Fit)
        };
        let l = layout(640, 480, target_for(&p, Detail::Low, 640, 480));
        assert_eq!((l.scaled, l.canvas), ((224, 224), (224, 224)));
    }
}
