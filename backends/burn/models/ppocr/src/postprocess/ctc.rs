//! Greedy CTC decoding of the recognizer's per-step character probabilities.

/// Decoded text of one crop and its confidence (mean probability of the kept steps).
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The text.
    pub text: String,
    /// Mean of the winning probabilities of the emitted characters; 0 for empty text.
    pub confidence: f32,
}

/// Decodes `steps x classes` probabilities (row-major): per step the most likely class,
/// repeated classes collapsed, the blank (class 0) dropped. `characters[i]` is class `i + 1`.
pub fn ctc_greedy_decode(probabilities: &[f32], classes: usize, characters: &[String]) -> Decoded {
    let mut text = String::new();
    let (mut sum, mut kept) = (0.0f64, 0usize);
    let mut previous = None;
    for step in probabilities.chunks_exact(classes) {
        let (best, probability) =
            step.iter()
                .copied()
                .enumerate()
                .fold(
                    (0, f32::MIN),
                    |best, (class, p)| if p > best.1 { (class, p) } else { best },
                );
        if best != 0 && previous != Some(best) {
            if let Some(character) = characters.get(best - 1) {
                text.push_str(character);
            }
            sum += f64::from(probability);
            kept += 1;
        }
        previous = Some(best);
    }
    let confidence = if kept == 0 {
        0.0
    } else {
        (sum / kept as f64) as f32
    };
    Decoded { text, confidence }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn characters() -> Vec<String> {
        ["a", "b", " "].map(String::from).to_vec()
    }

    fn one_hot(classes: &[(usize, f32)]) -> Vec<f32> {
        classes
            .iter()
            .flat_map(|&(class, p)| {
                let mut row = vec![(1.0 - p) / 3.0; 4];
                row[class] = p;
                row
            })
            .collect()
    }

    #[test]
    fn collapses_repeats_and_drops_blanks() {
        // a a _ a b b _ " " -> "aab "
        let steps = one_hot(&[
            (1, 0.9),
            (1, 0.8),
            (0, 0.9),
            (1, 0.7),
            (2, 0.6),
            (2, 0.9),
            (0, 0.99),
            (3, 0.5),
        ]);
        let decoded = ctc_greedy_decode(&steps, 4, &characters());
        assert_eq!(decoded.text, "aab ");
        // Only the first step of each run counts: (0.9 + 0.7 + 0.6 + 0.5) / 4.
        assert!((decoded.confidence - 0.675).abs() < 1e-6, "{decoded:?}");
    }

    #[test]
    fn all_blank_is_empty_with_zero_confidence() {
        let decoded = ctc_greedy_decode(&one_hot(&[(0, 0.9), (0, 0.9)]), 4, &characters());
        assert_eq!(
            decoded,
            Decoded {
                text: String::new(),
                confidence: 0.0
            }
        );
    }
}
