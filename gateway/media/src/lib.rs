//! Media normalization (being written).
