//! A fast lane through arrays of numbers for the relay's syntax check.
//!
//! An embeddings answer is almost all one kind of text: `[0.018080773,-0.00936473,...]`, a few
//! thousand bytes of it per vector. serde_json checks such an array number by number, with a
//! branch or two per digit and a mispredicted one per number (about 45,000 instructions and
//! 3-4 µs for a 384-dimension vector): more than everything else the gateway does for the
//! request.
//!
//! Here an array whose text is plainly numbers is checked in one branch-free pass over its bytes
//! instead, then cut out (leaving `[]`) of a copy that serde checks for everything else. The
//! pass checks the characters and the separators: numbers made of digits, `.`, `e`, `E`, `+`
//! and `-` only, each starting with a digit or `-` and ending with a digit, joined by `,` or
//! `, `. So `NaN`, `Infinity`, `null`, strings, nested values, empty elements and trailing
//! commas never take this lane; arrays that do not are left in place for serde, which accepts or
//! refuses them by the full grammar. What the lane does not check is the spelling inside one
//! number (`1..2`, `01`, `1-2`): JSON encoders do not write those, and checking them needs a
//! state per number, which is the cost this avoids (a version that also checked every
//! neighbouring pair of characters saved only a third of serde's time).

/// A relayed text with the inside of its plainly numeric arrays cut out (`[0.5,-1.25]` becomes
/// `[]`): what serde then checks.
pub(crate) struct Skimmed {
    /// The text without the cut numbers.
    pub text: Vec<u8>,
    /// Where each cut is in `text` (ascending) and how many bytes it took out.
    cuts: Vec<(usize, usize)>,
}

impl Skimmed {
    /// The position in the original text of position `at` in the skimmed one.
    pub fn original_position(&self, at: usize) -> usize {
        let cut: usize = self
            .cuts
            .iter()
            .take_while(|(cut_at, _)| *cut_at <= at)
            .map(|(_, len)| len)
            .sum();
        at + cut
    }
}

/// `text` without the inside of every plainly numeric array outside strings; `None` when it has
/// none (nothing to copy). Linear in `text` whatever it holds: a candidate is the text from a
/// `[` to the next `]` with no quote, backslash or `[` in between, so candidates never overlap
/// and each byte is checked at most once; the next `]` is found once for all the `[` before it.
pub(crate) fn skim_number_arrays(text: &[u8]) -> Option<Skimmed> {
    let next_special = |from: usize| {
        let rest = text.get(from..)?;
        memchr::memchr3(b'"', b'\\', b'[', rest).map(|i| from + i)
    };
    let mut skimmed: Option<Skimmed> = None;
    let mut copied = 0;
    let mut in_string = false;
    let mut close: Option<usize> = None;
    let mut next = next_special(0);
    while let Some(pos) = next {
        let after = pos + 1;
        next = match text[pos] {
            b'"' => {
                in_string = !in_string;
                next_special(after)
            }
            // The escaped character is skipped, whatever it is (`\"` does not end the string).
            // Outside a string a backslash is an error serde reports.
            b'\\' if in_string => next_special(after + 1),
            b'[' if !in_string => {
                if close.is_none_or(|end| end < after) {
                    close = memchr::memchr(b']', &text[after..]).map(|i| after + i);
                }
                let Some(end) = close else {
                    break;
                };
                let following = next_special(after);
                if following.is_none_or(|f| f > end) && is_plain_numbers(&text[after..end]) {
                    let out = skimmed.get_or_insert_with(|| Skimmed {
                        text: Vec::with_capacity(text.len().min(4096)),
                        cuts: Vec::new(),
                    });
                    out.text.extend_from_slice(&text[copied..after]);
                    out.cuts.push((out.text.len(), end - after));
                    copied = end;
                }
                following
            }
            _ => next_special(after),
        };
    }
    let mut out = skimmed?;
    out.text.extend_from_slice(&text[copied..]);
    Some(out)
}

/// Whether `inside` (an array's text between its brackets) is numbers joined by `,` or `, `, by
/// the checks in the module comment. Written as plain boolean arithmetic over neighbouring
/// bytes, with no early exit, so the compiler turns the loop into vector instructions.
fn is_plain_numbers(inside: &[u8]) -> bool {
    let digit = |b: u8| b.is_ascii_digit();
    // The ends first: an array of objects or strings is turned away without a pass over it.
    let (Some(&first), Some(&last)) = (inside.first(), inside.last()) else {
        return false;
    };
    if !(digit(first) || first == b'-') || !digit(last) {
        return false;
    }
    let mut bad = false;
    // Every byte but the last (a digit, checked above) as `a`, with the one after it as `b`.
    for (&a, &b) in inside.iter().zip(&inside[1..]) {
        let in_number = digit(a) | matches!(a, b'.' | b'e' | b'E' | b'+' | b'-');
        bad |= !(in_number | (a == b',') | (a == b' '));
        // A number ends with a digit before its comma; the next starts right after the comma,
        // or after one space, with a digit or `-`.
        bad |= (b == b',') & !digit(a);
        bad |= (a == b',') & !(digit(b) | (b == b'-') | (b == b' '));
        bad |= (b == b' ') & (a != b',');
        bad |= (a == b' ') & !(digit(b) | (b == b'-'));
    }
    !bad
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::IgnoredAny;

    fn json_accepts(text: &[u8]) -> bool {
        serde_json::from_slice::<IgnoredAny>(text).is_ok()
    }

    /// What the lane promises for an array it takes: numbers made of number characters, each
    /// starting with a digit or `-` and ending with a digit, joined by `,` or `, ` (so the
    /// array is valid JSON once each number is spelled right).
    fn shape_holds(inside: &[u8]) -> bool {
        let numbers: Vec<&[u8]> = inside
            .split(|&b| b == b',')
            .enumerate()
            .map(|(i, n)| {
                if i > 0 {
                    n.strip_prefix(b" ").unwrap_or(n)
                } else {
                    n
                }
            })
            .collect();
        let well_formed = numbers.iter().all(|n| {
            n.first().is_some_and(|&b| b.is_ascii_digit() || b == b'-')
                && n.last().is_some_and(u8::is_ascii_digit)
                && n.iter()
                    .all(|&b| b.is_ascii_digit() || b"-+.eE".contains(&b))
        });
        let zeros = vec!["0"; numbers.len()].join(",");
        well_formed && json_accepts(format!("[{zeros}]").as_bytes())
    }

    /// Every text of up to four characters from the numbers' alphabet (and a sample of longer
    /// ones): what the fast lane takes has the promised shape, and when serde accepts the
    /// array too that was the only thing to check.
    #[test]
    fn takes_only_what_has_the_promised_shape() {
        const ALPHABET: &[u8] = b"0123456789.eE+-, x";
        let check = |inside: &[u8]| {
            if is_plain_numbers(inside) {
                assert!(
                    shape_holds(inside),
                    "took {:?}",
                    String::from_utf8_lossy(inside)
                );
            }
        };
        let mut inside = Vec::new();
        for len in 1..=4u32 {
            for mut n in 0..ALPHABET.len().pow(len) {
                inside.clear();
                for _ in 0..len {
                    inside.push(ALPHABET[n % ALPHABET.len()]);
                    n /= ALPHABET.len();
                }
                check(&inside);
            }
        }
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..200_000 {
            inside.clear();
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            for _ in 0..5 + (state >> 60) {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                inside.push(ALPHABET[(state >> 33) as usize % ALPHABET.len()]);
            }
            check(&inside);
        }
    }

    #[test]
    fn what_encoders_write_takes_the_fast_lane() {
        let values = [0.0f32, -0.00936473, 0.018080773, 1e-7, -3.4e38, 12.5, -1.0];
        let compact = serde_json::to_string(&values).unwrap();
        let spaced = format!("[{}]", compact[1..compact.len() - 1].replace(',', ", "));
        let python_style = "[1.5e-05, -2.25E+10, 0.0, -0, 7]";
        for array in [compact.as_str(), &spaced, python_style] {
            let inside = &array.as_bytes()[1..array.len() - 1];
            assert!(is_plain_numbers(inside), "{array}");
        }
    }

    #[test]
    fn other_arrays_are_left_for_serde() {
        for inside in [
            "NaN",
            "1,NaN",
            "Infinity",
            "-Infinity",
            "null",
            "1,,2",
            "1, ,2",
            "1,  2",
            "1 ,2",
            "1 2",
            "1,2,",
            ",1",
            "1.",
            ".5",
            "1e",
            "1e+,2",
            "+1",
            " 1",
            "1 ",
            "\"1\"",
            "[1]",
            "{}",
            "true",
            "",
        ] {
            assert!(!is_plain_numbers(inside.as_bytes()), "{inside:?}");
        }
    }

    /// The gap the module comment owns up to: misspelled numbers of the right shape.
    #[test]
    fn the_spelling_inside_one_number_is_not_checked() {
        for inside in ["1..2", "01", "1,-01", "1-2", "--1", "1.2.3"] {
            assert!(is_plain_numbers(inside.as_bytes()), "{inside:?}");
            assert!(!json_accepts(format!("[{inside}]").as_bytes()));
        }
    }

    #[test]
    fn cuts_only_numeric_arrays_outside_strings() {
        let text = br#"{"a":"x\"[1,2]","b":[[1,2],[3.5e2]],"c":[1,"2"],"d":"[3]","e":[],"m":"z"}"#;
        let skimmed = skim_number_arrays(text).unwrap();
        let expected = br#"{"a":"x\"[1,2]","b":[[],[]],"c":[1,"2"],"d":"[3]","e":[],"m":"z"}"#;
        assert_eq!(
            String::from_utf8_lossy(&skimmed.text),
            String::from_utf8_lossy(expected)
        );
        assert!(json_accepts(&skimmed.text));
        // Positions after the cuts map back: `"z"` is 8 bytes further on in the original.
        let z = skimmed.text.len() - 4;
        assert_eq!(&skimmed.text[z..z + 3], b"\"z\"");
        let original = skimmed.original_position(z);
        assert_eq!(&text[original..original + 3], b"\"z\"");
        assert_eq!(skimmed.original_position(3), 3);
        assert!(skim_number_arrays(br#"{"s":"[1]\\","t":"["}"#).is_none());
        assert!(skim_number_arrays(b"[1,2").is_none());
    }

    /// Hostile shapes stay linear: every `[` here opens a candidate that looks numeric from
    /// both ends (a quadratic skim would check the rest of the megabyte for each of them).
    #[test]
    fn nested_and_unclosed_candidates_cost_one_pass() {
        let mut text = b"{\"data\":".to_vec();
        for _ in 0..200_000 {
            text.extend_from_slice(b"[1x");
        }
        text.extend_from_slice(b"[1]");
        let skimmed = skim_number_arrays(&text).unwrap();
        assert_eq!(skimmed.text.len(), text.len() - 1);
        let unclosed = b"[1,".repeat(300_000);
        assert!(skim_number_arrays(&unclosed).is_none());
    }
}
