//! Usage and spend: what each request used (tokens as the backend reported them, media as the
//! normalizer measured it), what it cost under the model's prices, and the hourly buckets the
//! admin API sums over.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What one request used.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageRecord {
    /// The key's id.
    pub key_id: String,
    /// The key's team.
    pub team: Option<String>,
    /// The model that answered.
    pub model: String,
    /// When it ended (unix seconds).
    pub at_secs: u64,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Pixels of pictures and video frames.
    pub image_pixels: u64,
    /// Milliseconds of audio.
    pub audio_ms: u64,
    /// Video frames.
    pub video_frames: u64,
    /// What it cost (micro-dollars).
    pub spend_micros: u64,
}

/// Totals of one key on one model over one hour.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageBucket {
    /// The hour's start (unix seconds).
    pub hour: u64,
    /// The key's id.
    pub key_id: String,
    /// The key's team (`""` for none).
    pub team: String,
    /// The model.
    pub model: String,
    /// The totals.
    pub totals: Totals,
}

/// Summed usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Requests.
    pub requests: u64,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Pixels.
    pub image_pixels: u64,
    /// Milliseconds of audio.
    pub audio_ms: u64,
    /// Video frames.
    pub video_frames: u64,
    /// Micro-dollars.
    pub spend_micros: u64,
}

impl Totals {
    /// One request's totals.
    pub fn of(record: &UsageRecord) -> Self {
        Self {
            requests: 1,
            prompt_tokens: record.prompt_tokens,
            completion_tokens: record.completion_tokens,
            image_pixels: record.image_pixels,
            audio_ms: record.audio_ms,
            video_frames: record.video_frames,
            spend_micros: record.spend_micros,
        }
    }

    /// Adds `other`.
    pub fn add(&mut self, other: &Totals) {
        self.requests += other.requests;
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.image_pixels += other.image_pixels;
        self.audio_ms += other.audio_ms;
        self.video_frames += other.video_frames;
        self.spend_micros += other.spend_micros;
    }

    /// The fields in a fixed order (how the Redis store keeps them in a hash).
    pub const FIELDS: [&'static str; 7] = [
        "requests",
        "prompt_tokens",
        "completion_tokens",
        "image_pixels",
        "audio_ms",
        "video_frames",
        "spend_micros",
    ];

    /// The values in [`Self::FIELDS`]'s order.
    pub fn values(&self) -> [u64; 7] {
        [
            self.requests,
            self.prompt_tokens,
            self.completion_tokens,
            self.image_pixels,
            self.audio_ms,
            self.video_frames,
            self.spend_micros,
        ]
    }

    /// From values in [`Self::FIELDS`]'s order.
    pub fn from_values(values: [u64; 7]) -> Self {
        let [
            requests,
            prompt_tokens,
            completion_tokens,
            image_pixels,
            audio_ms,
            video_frames,
            spend_micros,
        ] = values;
        Self {
            requests,
            prompt_tokens,
            completion_tokens,
            image_pixels,
            audio_ms,
            video_frames,
            spend_micros,
        }
    }
}

/// How long hourly usage is kept (seconds): 35 days, a month's report and some. Older buckets
/// are dropped as newer ones are written, so usage cannot grow a store without bound.
pub const USAGE_RETENTION_SECS: u64 = 35 * 24 * 3600;

/// The hour `at_secs` falls in.
pub fn hour_of(at_secs: u64) -> u64 {
    at_secs - at_secs % 3600
}

/// How usage is summed for the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// Per key.
    Key,
    /// Per team.
    Team,
    /// Per model.
    Model,
    /// Per UTC day.
    Day,
    /// Per hour.
    Hour,
}

/// Sums `buckets` by `group`: (group value, totals), in the group's order.
pub fn group(buckets: &[UsageBucket], group: GroupBy) -> Vec<(String, Totals)> {
    let mut out: BTreeMap<String, Totals> = BTreeMap::new();
    for bucket in buckets {
        let name = match group {
            GroupBy::Key => bucket.key_id.clone(),
            GroupBy::Team => bucket.team.clone(),
            GroupBy::Model => bucket.model.clone(),
            GroupBy::Day => (bucket.hour - bucket.hour % 86_400).to_string(),
            GroupBy::Hour => bucket.hour.to_string(),
        };
        out.entry(name).or_default().add(&bucket.totals);
    }
    out.into_iter().collect()
}

/// A model's prices, in US dollars.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    /// Per 1,000 prompt tokens.
    #[serde(default)]
    pub prompt_per_1k_tokens: f64,
    /// Per 1,000 completion tokens.
    #[serde(default)]
    pub completion_per_1k_tokens: f64,
    /// Per megapixel of pictures (video frames are priced per frame instead).
    #[serde(default)]
    pub per_megapixel: f64,
    /// Per minute of audio.
    #[serde(default)]
    pub per_audio_minute: f64,
    /// Per video frame.
    #[serde(default)]
    pub per_video_frame: f64,
}

impl Prices {
    /// What `record` costs, in micro-dollars (rounded to the nearest). `still_pixels` are the
    /// pixels of pictures that were not video frames.
    pub fn cost_micros(&self, record: &UsageRecord, still_pixels: u64) -> u64 {
        let dollars = record.prompt_tokens as f64 / 1e3 * self.prompt_per_1k_tokens
            + record.completion_tokens as f64 / 1e3 * self.completion_per_1k_tokens
            + still_pixels as f64 / 1e6 * self.per_megapixel
            + record.audio_ms as f64 / 60e3 * self.per_audio_minute
            + record.video_frames as f64 * self.per_video_frame;
        (dollars * 1e6).round().max(0.0) as u64
    }

    /// Checks every price; the error names the bad field.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        for (field, value) in [
            ("prompt_per_1k_tokens", self.prompt_per_1k_tokens),
            ("completion_per_1k_tokens", self.completion_per_1k_tokens),
            ("per_megapixel", self.per_megapixel),
            ("per_audio_minute", self.per_audio_minute),
            ("per_video_frame", self.per_video_frame),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err((field, format!("{value} is not a price")));
            }
        }
        Ok(())
    }
}

/// Dollars from micro-dollars.
pub fn dollars(micros: u64) -> f64 {
    micros as f64 / 1e6
}

/// Micro-dollars from dollars (negative and non-finite amounts are zero).
pub fn micros(dollars: f64) -> u64 {
    if dollars.is_finite() && dollars > 0.0 {
        (dollars * 1e6).round() as u64
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_costs_its_tokens_and_media_at_the_models_prices() {
        let prices = Prices {
            prompt_per_1k_tokens: 0.5,
            completion_per_1k_tokens: 1.5,
            per_megapixel: 0.01,
            per_audio_minute: 0.006,
            per_video_frame: 0.001,
        };
        let record = UsageRecord {
            prompt_tokens: 2000,
            completion_tokens: 1000,
            audio_ms: 30_000,
            video_frames: 10,
            image_pixels: 3_000_000,
            ..UsageRecord::default()
        };
        // 1.0 + 1.5 + 0.02 (2 MP of stills) + 0.003 + 0.01
        assert_eq!(prices.cost_micros(&record, 2_000_000), 2_533_000);
        assert!(
            Prices {
                per_megapixel: -1.0,
                ..prices
            }
            .check()
            .is_err()
        );
    }

    #[test]
    fn buckets_are_summed_by_the_group_asked_for() {
        let bucket = |hour, key: &str, model: &str, requests| UsageBucket {
            hour,
            key_id: key.into(),
            team: "t".into(),
            model: model.into(),
            totals: Totals {
                requests,
                ..Totals::default()
            },
        };
        let buckets = [
            bucket(0, "a", "m1", 1),
            bucket(3600, "a", "m2", 2),
            bucket(86_400, "b", "m1", 4),
        ];
        let by_key = group(&buckets, GroupBy::Key);
        assert_eq!(by_key[0].0, "a");
        assert_eq!(by_key[0].1.requests, 3);
        assert_eq!(group(&buckets, GroupBy::Model)[0].1.requests, 5);
        assert_eq!(group(&buckets, GroupBy::Day).len(), 2);
        assert_eq!(group(&buckets, GroupBy::Team)[0].1.requests, 7);
        assert_eq!(hour_of(7199), 3600);
    }
}
