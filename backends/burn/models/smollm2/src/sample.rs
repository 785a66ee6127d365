//! Choosing the next token from logits: greedy at temperature 0, otherwise softmax at a
//! temperature, cut to the nucleus of `top_p` probability, drawn with a seedable generator so
//! a request with a `seed` repeats exactly.

/// How a request wants tokens chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// 0 picks the most likely token; higher flattens the distribution.
    pub temperature: f32,
    /// Keep the most likely tokens until their probabilities reach this (1 keeps all).
    pub top_p: f32,
    /// Seed of the random draws; `None` draws a fresh one.
    pub seed: Option<u64>,
}

impl Default for Sampling {
    /// OpenAI's defaults: temperature 1, top_p 1.
    fn default() -> Self {
        Self {
            temperature: 1.0,
            top_p: 1.0,
            seed: None,
        }
    }
}

/// A sampler: the settings and the generator's state.
#[derive(Debug, Clone)]
pub struct Sampler {
    settings: Sampling,
    state: u64,
}

impl Sampler {
    /// A sampler seeded from `settings.seed` or, without one, from the clock and a per-process
    /// random hasher key.
    pub fn new(settings: Sampling) -> Self {
        let state = settings.seed.unwrap_or_else(|| {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos()),
            );
            h.finish()
        });
        Self { settings, state }
    }

    /// The next token for `logits`.
    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        if self.settings.temperature <= 0.0 {
            return argmax(logits);
        }
        let inverse_t = 1.0 / self.settings.temperature;
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut candidates: Vec<(u32, f32)> = logits
            .iter()
            .enumerate()
            .map(|(id, &l)| (id as u32, ((l - max) * inverse_t).exp()))
            .filter(|(_, p)| *p > 0.0)
            .collect();
        if candidates.is_empty() {
            return argmax(logits);
        }
        // Most likely first, ties by id, so the order (and a seeded draw) is deterministic.
        candidates.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let total: f32 = candidates.iter().map(|c| c.1).sum();
        if self.settings.top_p < 1.0 {
            let budget = self.settings.top_p.max(0.0) * total;
            let mut sum = 0.0;
            let keep = candidates
                .iter()
                .position(|c| {
                    sum += c.1;
                    sum >= budget
                })
                .map_or(candidates.len(), |i| i + 1);
            candidates.truncate(keep);
        }
        let kept: f32 = candidates.iter().map(|c| c.1).sum();
        let mut target = self.uniform() * kept;
        for &(id, p) in &candidates {
            if target < p {
                return id;
            }
            target -= p;
        }
        candidates.last().map_or(0, |c| c.0)
    }

    /// Uniform in `[0, 1)` (SplitMix64).
    fn uniform(&mut self) -> f32 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// Index of the largest logit (the first on ties).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampler(temperature: f32, top_p: f32, seed: u64) -> Sampler {
        Sampler::new(Sampling {
            temperature,
            top_p,
            seed: Some(seed),
        })
    }

    #[test]
    fn temperature_zero_is_greedy() {
        assert_eq!(sampler(0.0, 1.0, 1).sample(&[0.1, 3.0, 2.9]), 1);
        assert_eq!(argmax(&[1.0, 1.0]), 0);
    }

    #[test]
    fn a_seed_repeats_and_draws_follow_the_probabilities() {
        let logits = [0.0f32, (3.0f32).ln(), f32::NEG_INFINITY];
        let draw = |seed| {
            let mut s = sampler(1.0, 1.0, seed);
            (0..4000).map(|_| s.sample(&logits)).collect::<Vec<_>>()
        };
        let (a, b) = (draw(7), draw(7));
        assert_eq!(a, b);
        assert_ne!(a, draw(8));
        // p = (0.25, 0.75, 0): within 3 percentage points over 4000 draws.
        let ones = a.iter().filter(|&&t| t == 1).count() as f32 / 4000.0;
        assert!((ones - 0.75).abs() < 0.03, "{ones}");
        assert!(!a.contains(&2));
    }

    #[test]
    fn top_p_keeps_only_the_nucleus() {
        // p ≈ (0.6, 0.3, 0.1): top_p 0.5 keeps only the first; 0.8 the first two.
        let logits = [0.6f32.ln(), 0.3f32.ln(), 0.1f32.ln()];
        let mut s = sampler(1.0, 0.5, 3);
        assert!((0..500).all(|_| s.sample(&logits) == 0));
        let mut s = sampler(1.0, 0.8, 3);
        let drawn: Vec<u32> = (0..2000).map(|_| s.sample(&logits)).collect();
        assert!(drawn.contains(&1) && !drawn.contains(&2));
    }
}
