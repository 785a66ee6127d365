//! Video frame sampling (being written).
