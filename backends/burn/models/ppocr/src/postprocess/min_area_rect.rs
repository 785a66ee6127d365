//! Convex hull and minimum-area bounding rectangle (OpenCV's `minAreaRect` + `boxPoints`).

/// A point in pixel coordinates (x to the right, y down).
pub type Point = [f32; 2];

/// A rotated rectangle: its four corners in order around the rectangle and its side lengths.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RotatedRect {
    /// Corners, consecutive corners share a side.
    pub corners: [Point; 4],
    /// Length of the side `corners[0] -> corners[1]`.
    pub width: f32,
    /// Length of the side `corners[1] -> corners[2]`.
    pub height: f32,
}

impl RotatedRect {
    /// The shorter side (DB postprocessing drops boxes whose shorter side is too small).
    pub fn short_side(&self) -> f32 {
        self.width.min(self.height)
    }
}

fn cross(origin: Point, a: Point, b: Point) -> f32 {
    (a[0] - origin[0]) * (b[1] - origin[1]) - (a[1] - origin[1]) * (b[0] - origin[0])
}

/// Convex hull (Andrew's monotone chain), counter-clockwise in a y-up frame, no repeated end.
pub fn convex_hull(points: &[Point]) -> Vec<Point> {
    let mut sorted: Vec<Point> = points.to_vec();
    sorted.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    sorted.dedup();
    if sorted.len() < 3 {
        return sorted;
    }
    let mut hull: Vec<Point> = Vec::with_capacity(sorted.len() * 2);
    for pass in 0..2 {
        let start = hull.len();
        let ordered: Box<dyn Iterator<Item = &Point>> = if pass == 0 {
            Box::new(sorted.iter())
        } else {
            Box::new(sorted.iter().rev())
        };
        for &point in ordered {
            while hull.len() >= start + 2
                && cross(hull[hull.len() - 2], hull[hull.len() - 1], point) <= 0.0
            {
                hull.pop();
            }
            hull.push(point);
        }
        // The last point of each chain is the first of the next one.
        hull.pop();
    }
    hull
}

/// The smallest-area rectangle enclosing `points` (rotating calipers over the convex hull:
/// the optimal rectangle has one side on a hull edge). `None` when there are no points.
pub fn min_area_rect(points: &[Point]) -> Option<RotatedRect> {
    let hull = convex_hull(points);
    match hull.len() {
        0 => None,
        1 => Some(RotatedRect {
            corners: [hull[0]; 4],
            width: 0.0,
            height: 0.0,
        }),
        _ => Some(best_edge_aligned_rect(&hull)),
    }
}

fn best_edge_aligned_rect(hull: &[Point]) -> RotatedRect {
    let mut best: Option<(f32, RotatedRect)> = None;
    for index in 0..hull.len() {
        let start = hull[index];
        let end = hull[(index + 1) % hull.len()];
        let (dx, dy) = (end[0] - start[0], end[1] - start[1]);
        let length = (dx * dx + dy * dy).sqrt();
        if length == 0.0 {
            continue;
        }
        let axis = [dx / length, dy / length];
        let normal = [-axis[1], axis[0]];
        let (mut min_u, mut max_u, mut min_v, mut max_v) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
        for point in hull {
            let rel = [point[0] - start[0], point[1] - start[1]];
            let u = rel[0] * axis[0] + rel[1] * axis[1];
            let v = rel[0] * normal[0] + rel[1] * normal[1];
            min_u = min_u.min(u);
            max_u = max_u.max(u);
            min_v = min_v.min(v);
            max_v = max_v.max(v);
        }
        let area = (max_u - min_u) * (max_v - min_v);
        if best.as_ref().is_none_or(|(best_area, _)| area < *best_area) {
            let corner = |u: f32, v: f32| {
                [
                    start[0] + u * axis[0] + v * normal[0],
                    start[1] + u * axis[1] + v * normal[1],
                ]
            };
            let rect = RotatedRect {
                corners: [
                    corner(min_u, min_v),
                    corner(max_u, min_v),
                    corner(max_u, max_v),
                    corner(min_u, max_v),
                ],
                width: max_u - min_u,
                height: max_v - min_v,
            };
            best = Some((area, rect));
        }
    }
    // Only reachable with a hull whose edges all have zero length, i.e. one distinct point.
    best.map_or(
        RotatedRect {
            corners: [hull[0]; 4],
            width: 0.0,
            height: 0.0,
        },
        |(_, rect)| rect,
    )
}

/// Orders rectangle corners as PaddleOCR's `get_mini_boxes` does: the two leftmost points
/// become top-left / bottom-left (by y), the two rightmost top-right / bottom-right, and the
/// result runs top-left, top-right, bottom-right, bottom-left.
pub fn order_box_corners(corners: [Point; 4]) -> [Point; 4] {
    let mut by_x = corners;
    by_x.sort_by(|a, b| a[0].total_cmp(&b[0]));
    let (top_left, bottom_left) = if by_x[1][1] > by_x[0][1] {
        (by_x[0], by_x[1])
    } else {
        (by_x[1], by_x[0])
    };
    let (top_right, bottom_right) = if by_x[3][1] > by_x[2][1] {
        (by_x[2], by_x[3])
    } else {
        (by_x[3], by_x[2])
    };
    [top_left, top_right, bottom_right, bottom_left]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() < 1e-3
    }

    #[test]
    fn hull_drops_interior_and_collinear_points() {
        let points = [
            [0.0, 0.0],
            [2.0, 0.0],
            [1.0, 0.0],
            [2.0, 2.0],
            [0.0, 2.0],
            [1.0, 1.0],
        ];
        let hull = convex_hull(&points);
        assert_eq!(hull.len(), 4);
        assert!(!hull.contains(&[1.0, 1.0]));
        assert!(!hull.contains(&[1.0, 0.0]));
    }

    #[test]
    fn axis_aligned_block_gives_its_bounds() {
        let points: Vec<Point> = (0..10)
            .flat_map(|x| (0..4).map(move |y| [x as f32, y as f32]))
            .collect();
        let rect = min_area_rect(&points).unwrap();
        let (w, h) = (rect.width.max(rect.height), rect.short_side());
        assert!(close(w, 9.0) && close(h, 3.0), "{rect:?}");
    }

    #[test]
    fn rotated_rectangle_is_recovered() {
        // A 20 x 6 rectangle rotated by 30 degrees: the box must follow the rotation, not
        // the (larger) axis-aligned bounds.
        let (sin, cos) = 30f32.to_radians().sin_cos();
        let corners = [[0.0, 0.0], [20.0, 0.0], [20.0, 6.0], [0.0, 6.0]]
            .map(|[x, y]: [f32; 2]| [x * cos - y * sin + 50.0, x * sin + y * cos + 50.0]);
        let rect = min_area_rect(&corners).unwrap();
        assert!(close(rect.width * rect.height, 120.0), "{rect:?}");
        assert!(close(rect.short_side(), 6.0));
        for corner in corners {
            assert!(
                rect.corners
                    .iter()
                    .any(|c| close(c[0], corner[0]) && close(c[1], corner[1]))
            );
        }
    }

    #[test]
    fn degenerate_inputs() {
        assert!(min_area_rect(&[]).is_none());
        let single = min_area_rect(&[[3.0, 4.0]]).unwrap();
        assert_eq!(single.short_side(), 0.0);
        let line = min_area_rect(&[[0.0, 0.0], [5.0, 0.0], [10.0, 0.0]]).unwrap();
        assert!(close(line.short_side(), 0.0) && close(line.width.max(line.height), 10.0));
    }

    #[test]
    fn corners_are_ordered_clockwise_from_top_left() {
        let ordered = order_box_corners([[10.0, 5.0], [0.0, 0.0], [0.0, 5.0], [10.0, 0.0]]);
        assert_eq!(ordered, [[0.0, 0.0], [10.0, 0.0], [10.0, 5.0], [0.0, 5.0]]);
    }
}
