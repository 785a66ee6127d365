//! Reading order of detected boxes (rapidocr's `sorted_boxes`).

use super::min_area_rect::Point;

/// Boxes whose top-left corners are less than this many pixels apart vertically are on the
/// same line and are ordered left to right.
const SAME_LINE_PIXELS: f32 = 10.0;

/// Indices of `boxes` (corners starting at top-left) in reading order: top to bottom by the
/// top-left corner, then a bubble pass that puts boxes of the same line left to right.
pub fn reading_order(boxes: &[[Point; 4]]) -> Vec<usize> {
    let top_left = |index: usize| boxes[index][0];
    let mut order: Vec<usize> = (0..boxes.len()).collect();
    order.sort_by(|&a, &b| {
        let (pa, pb) = (top_left(a), top_left(b));
        pa[1].total_cmp(&pb[1]).then(pa[0].total_cmp(&pb[0]))
    });
    for i in 0..order.len().saturating_sub(1) {
        for j in (0..=i).rev() {
            let (upper, lower) = (top_left(order[j]), top_left(order[j + 1]));
            if (lower[1] - upper[1]).abs() < SAME_LINE_PIXELS && lower[0] < upper[0] {
                order.swap(j, j + 1);
            } else {
                break;
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(x: f32, y: f32) -> [Point; 4] {
        [[x, y], [x + 10.0, y], [x + 10.0, y + 5.0], [x, y + 5.0]]
    }

    #[test]
    fn lines_top_to_bottom() {
        let boxes = [at(0.0, 100.0), at(50.0, 0.0), at(0.0, 50.0)];
        assert_eq!(reading_order(&boxes), vec![1, 2, 0]);
    }

    #[test]
    fn same_line_left_to_right_despite_small_vertical_jitter() {
        // The right word sits 4 px higher than the left one: still one line.
        let boxes = [at(200.0, 20.0), at(10.0, 24.0), at(5.0, 60.0)];
        assert_eq!(reading_order(&boxes), vec![1, 0, 2]);
    }

    #[test]
    fn empty_and_single() {
        assert!(reading_order(&[]).is_empty());
        assert_eq!(reading_order(&[at(1.0, 1.0)]), vec![0]);
    }
}
