//! Image preparation: resizing, normalization, cropping text boxes.

mod resize;
mod warp;

pub use resize::{pad_vertically, resize_bilinear, write_normalized_bgr};
pub use warp::crop_text_box;
