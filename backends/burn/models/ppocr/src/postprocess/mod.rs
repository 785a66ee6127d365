//! Pure postprocessing steps (no weights): DB boxes, CTC decoding, reading order.

mod components;
mod ctc;
mod db;
mod min_area_rect;
mod reading_order;

pub use ctc::{Decoded, ctc_greedy_decode};
pub use db::{DbParams, ProbabilityMap, boxes_from_probability_map, unclip};
pub use min_area_rect::{Point, RotatedRect, convex_hull, min_area_rect, order_box_corners};
pub use reading_order::reading_order;
