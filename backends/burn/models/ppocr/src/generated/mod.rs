//! burn code generated from the PaddleOCR ONNX graphs by burn-onnx, and for each network
//! the table that says which ONNX tensor fills which parameter. Each network is a directory:
//! `mod.rs` holds `Model`, which runs burn-onnx's consecutive `SubmoduleN` stretches of the
//! graph in order, one file each. Regenerate with
//! `cargo run -p omnigate-ppocr --features codegen --example generate_models`.

#![allow(
    missing_docs,
    unused,
    clippy::all,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

pub mod cls;
pub mod cls_weights;
pub mod det;
pub mod det_weights;
pub mod rec;
pub mod rec_weights;
