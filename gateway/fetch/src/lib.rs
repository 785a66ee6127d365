//! Media fetching (being written).
