//! Binary-mask helpers for DB postprocessing: dilation and 8-connected components.

use super::min_area_rect::Point;

/// A row-major binary mask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bitmap {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width * height` flags, row-major.
    pub bits: Vec<bool>,
}

impl Bitmap {
    /// Pixels of `values` strictly above `threshold`.
    pub fn threshold(values: &[f32], width: usize, height: usize, threshold: f32) -> Self {
        Self {
            width,
            height,
            bits: values.iter().map(|&value| value > threshold).collect(),
        }
    }

    /// Dilation with OpenCV's 2x2 all-ones kernel (anchor at (1, 1)): a pixel is set when it
    /// or its left, upper or upper-left neighbour is set. DB uses it to merge touching
    /// characters into one line.
    pub fn dilate_2x2(&self) -> Self {
        let mut bits = self.bits.clone();
        for y in 0..self.height {
            for x in 0..self.width {
                let set = |dx: usize, dy: usize| {
                    x >= dx && y >= dy && self.bits[(y - dy) * self.width + (x - dx)]
                };
                if set(1, 0) || set(0, 1) || set(1, 1) {
                    bits[y * self.width + x] = true;
                }
            }
        }
        Self {
            width: self.width,
            height: self.height,
            bits,
        }
    }

    /// For every 8-connected component, the leftmost and rightmost pixel of each of its rows.
    /// They have the same convex hull as the whole component (and as OpenCV's outer contour),
    /// at a fraction of the points.
    pub fn component_outlines(&self) -> Vec<Vec<Point>> {
        let mut labels = vec![u32::MAX; self.bits.len()];
        let mut outlines = Vec::new();
        let mut stack = Vec::new();
        for seed in 0..self.bits.len() {
            if !self.bits[seed] || labels[seed] != u32::MAX {
                continue;
            }
            let label = outlines.len() as u32;
            // Seeds are met in raster order, so the seed's row is the component's top row:
            // row_extents[y - top] = (min x, max x).
            let top = seed / self.width;
            let mut row_extents: Vec<(usize, usize)> = Vec::new();
            labels[seed] = label;
            stack.push(seed);
            while let Some(index) = stack.pop() {
                let (x, y) = (index % self.width, index / self.width);
                if row_extents.len() <= y - top {
                    row_extents.resize(y - top + 1, (usize::MAX, 0));
                }
                let (min_x, max_x) = &mut row_extents[y - top];
                *min_x = (*min_x).min(x);
                *max_x = (*max_x).max(x);
                for ny in y.saturating_sub(1)..=(y + 1).min(self.height - 1) {
                    for nx in x.saturating_sub(1)..=(x + 1).min(self.width - 1) {
                        let neighbour = ny * self.width + nx;
                        if self.bits[neighbour] && labels[neighbour] == u32::MAX {
                            labels[neighbour] = label;
                            stack.push(neighbour);
                        }
                    }
                }
            }
            let outline = row_extents
                .into_iter()
                .enumerate()
                .flat_map(|(row, (min_x, max_x))| {
                    let y = (top + row) as f32;
                    [[min_x as f32, y], [max_x as f32, y]]
                })
                .collect();
            outlines.push(outline);
        }
        outlines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bitmap(rows: &[&str]) -> Bitmap {
        Bitmap {
            width: rows[0].len(),
            height: rows.len(),
            bits: rows
                .iter()
                .flat_map(|row| row.chars().map(|c| c == '#'))
                .collect(),
        }
    }

    #[test]
    fn threshold_is_strict() {
        let map = Bitmap::threshold(&[0.2, 0.3, 0.31], 3, 1, 0.3);
        assert_eq!(map.bits, vec![false, false, true]);
    }

    #[test]
    fn dilation_grows_right_and_down() {
        let dilated = bitmap(&["...", ".#.", "..."]).dilate_2x2();
        assert_eq!(dilated, bitmap(&["...", ".##", ".##"]));
    }

    #[test]
    fn diagonal_pixels_are_one_component_separate_blocks_are_two() {
        let map = bitmap(&["#....", ".#..#", "....#"]);
        let mut outlines = map.component_outlines();
        outlines.sort_by(|a, b| a[0][0].total_cmp(&b[0][0]));
        assert_eq!(outlines.len(), 2);
        assert_eq!(
            outlines[0],
            vec![[0.0, 0.0], [0.0, 0.0], [1.0, 1.0], [1.0, 1.0]]
        );
        assert_eq!(
            outlines[1],
            vec![[4.0, 1.0], [4.0, 1.0], [4.0, 2.0], [4.0, 2.0]]
        );
    }

    #[test]
    fn outline_keeps_row_extremes_only() {
        let outlines = bitmap(&["####", "####"]).component_outlines();
        assert_eq!(
            outlines,
            vec![vec![[0.0, 0.0], [3.0, 0.0], [0.0, 1.0], [3.0, 1.0]]]
        );
    }
}
